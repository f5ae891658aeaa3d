package dev.lattice.trainer.cli;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code lattice score}: the mean loss (nats per predicted token) and perplexity of a model on a JSONL file whose
 * lines hold {@code input_ids} or {@code text}; every token after the first of each line is predicted.
 */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Score a Lattice checkpoint or HuggingFace model on JSONL lines of input_ids or text.")
public final class ScoreCommand {

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR") String checkpoint;
    @Option(names = "--input", required = true, paramLabel = "FILE.jsonl") String input;
    @Option(names = "--tokenizer", defaultValue = "gpt2",
            description = "For 'text' lines: gpt2 or a tokenizer.json. Default: ${DEFAULT-VALUE}.") String tokenizer;

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        ScoreCommand c = new ScoreCommand();
        CommandLine cl = new CommandLine(c);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            err.println("lattice score: " + e.getMessage());
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(out);
            return 0;
        }
        try {
            out.println(new Gson().toJson(c.score()));
            return 0;
        } catch (IllegalArgumentException | IOException e) {
            err.println("lattice score: " + e.getMessage());
            return e instanceof IOException ? 1 : 2;
        }
    }

    Map<String, Object> score() throws IOException {
        GptModel model = ModelLoader.load(checkpoint, new CpuBackend());
        TextTokenizer tok = null;
        long sequences = 0;
        long predicted = 0;
        double nats = 0;
        int lineNo = 0;
        try (BufferedReader r = Files.newBufferedReader(Path.of(input), StandardCharsets.UTF_8)) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                JsonObject o;
                try {
                    o = JsonParser.parseString(line).getAsJsonObject();
                } catch (JsonParseException | IllegalStateException e) {
                    throw new IllegalArgumentException(input + " line " + lineNo + ": not a JSON object");
                }
                int[] ids;
                if (o.has("input_ids")) {
                    JsonElement arr = o.get("input_ids");
                    ids = new int[arr.getAsJsonArray().size()];
                    for (int i = 0; i < ids.length; i++) {
                        ids[i] = arr.getAsJsonArray().get(i).getAsInt();
                    }
                } else if (o.has("text")) {
                    if (tok == null) {
                        tok = TokenizerSpec.of(tokenizer).tokenizer();
                    }
                    ids = tok.encode(o.get("text").getAsString());
                } else {
                    throw new IllegalArgumentException(input + " line " + lineNo + ": needs 'input_ids' or 'text'");
                }
                if (ids.length < 2) {
                    continue;
                }
                // L tokens make L − 1 predictions at positions 0..L−2 (the last token is only a target)
                if (ids.length - 1 > model.config().maxPositionEmbeddings()) {
                    throw new IllegalArgumentException(input + " line " + lineNo + ": " + ids.length
                            + " tokens need " + (ids.length - 1) + " positions; the model has "
                            + model.config().maxPositionEmbeddings() + " (at most "
                            + (model.config().maxPositionEmbeddings() + 1) + " tokens per line)");
                }
                int t = ids.length - 1;
                float[] mask = new float[t];
                Arrays.fill(mask, 1f);
                try {
                    float[] losses = model.forward(new Batch(Arrays.copyOf(ids, t), Arrays.copyOfRange(ids, 1, t + 1),
                            mask, 1, t));
                    for (float l : losses) {
                        nats += l;
                    }
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(input + " line " + lineNo + ": " + e.getMessage());
                }
                sequences++;
                predicted += t;
            }
        }
        double loss = predicted == 0 ? Double.NaN : nats / predicted;
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("sequences", sequences);
        result.put("tokens", predicted);
        result.put("loss", loss);
        result.put("perplexity", Math.exp(loss));
        return result;
    }
}
