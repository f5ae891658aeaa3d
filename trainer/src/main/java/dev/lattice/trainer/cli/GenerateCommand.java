package dev.lattice.trainer.cli;

import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * {@code lattice generate}: continues a prompt by sampling (temperature, top-k; temperature 0 is greedy). Each
 * step re-runs the model over the whole sequence: simple and exact, fine for the model sizes a CPU serves.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt.")
public final class GenerateCommand {

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR") String checkpoint;
    @Option(names = "--prompt", required = true) String prompt;
    @Option(names = "--max-new-tokens", defaultValue = "32") int maxNewTokens;
    @Option(names = "--temperature", defaultValue = "1.0") double temperature;
    @Option(names = "--top-k", defaultValue = "0") int topK;
    @Option(names = "--seed", defaultValue = "1234") long seed;
    @Option(names = "--tokenizer", defaultValue = "gpt2") String tokenizer;

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        GenerateCommand c = new GenerateCommand();
        CommandLine cl = new CommandLine(c);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            err.println("lattice generate: " + e.getMessage());
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(out);
            return 0;
        }
        try {
            out.println(c.generate());
            return 0;
        } catch (IllegalArgumentException | IOException e) {
            err.println("lattice generate: " + e.getMessage());
            return e instanceof IOException ? 1 : 2;
        }
    }

    String generate() throws IOException {
        if (temperature < 0 || maxNewTokens < 0 || topK < 0) {
            throw new IllegalArgumentException("--temperature, --max-new-tokens and --top-k must be >= 0");
        }
        GptModel model = ModelLoader.load(checkpoint, new CpuBackend());
        TextTokenizer tok = TokenizerSpec.of(tokenizer).tokenizer();
        int[] ids = tok.encode(prompt);
        if (ids.length == 0) {
            throw new IllegalArgumentException("--prompt encodes to no tokens");
        }
        int[] generated = sample(model, ids, maxNewTokens, temperature, topK, seed);
        return tok.decode(generated);
    }

    /** Prompt plus up to {@code n} sampled tokens (stops at the model's position limit). */
    public static int[] sample(GptModel model, int[] prompt, int n, double temperature, int topK, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int vocab = model.config().vocabSize();
        int padded = model.config().paddedVocabSize();
        int[] seq = prompt.clone();
        for (int step = 0; step < n && seq.length < model.config().maxPositionEmbeddings(); step++) {
            int t = seq.length;
            float[] mask = new float[t];
            model.forward(new Batch(seq, seq, mask, 1, t));
            float[] logits = model.logits();
            double[] row = new double[vocab];
            for (int v = 0; v < vocab; v++) {
                row[v] = logits[(t - 1) * padded + v];
            }
            int next = pick(row, temperature, topK, rnd);
            seq = Arrays.copyOf(seq, t + 1);
            seq[t] = next;
        }
        return seq;
    }

    static int pick(double[] logits, double temperature, int topK, SplittableRandom rnd) {
        int argmax = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[argmax]) {
                argmax = i;
            }
        }
        if (temperature == 0) {
            return argmax;
        }
        double cutoff = Double.NEGATIVE_INFINITY;
        if (topK > 0 && topK < logits.length) {
            double[] sorted = logits.clone();
            Arrays.sort(sorted);
            cutoff = sorted[sorted.length - topK];
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = logits[i] < cutoff ? 0 : Math.exp((logits[i] - logits[argmax]) / temperature);
            sum += p[i];
        }
        double u = rnd.nextDouble() * sum;
        for (int i = 0; i < p.length; i++) {
            u -= p[i];
            if (u <= 0 && p[i] > 0) {
                return i;
            }
        }
        return argmax;
    }
}
