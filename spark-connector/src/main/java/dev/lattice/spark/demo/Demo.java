package dev.lattice.spark.demo;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.spark.preprocess.PreprocessJob;
import dev.lattice.spark.preprocess.PreprocessOptions;
import dev.lattice.spark.preprocess.PreprocessSummary;
import dev.lattice.spark.train.TrainJob;
import dev.lattice.trainer.cli.GenerateCommand;
import dev.lattice.trainer.cli.ScoreCommand;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code bin/lattice demo}: the whole product on the embedded default corpus, in Spark local mode — preprocess the
 * JDK's java.base sources, train a small GPT-2 with TP2 × DP2 (ZeRO-1) on 4 CPU ranks as a barrier stage, save
 * checkpoints and the loss curve, score held-out documents and generate a sample.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Preprocess, train (TP2 x DP2 on 4 CPU ranks in Spark local mode), score and generate.")
public final class Demo {

    @Option(names = "--output", defaultValue = "out/demo", description = "Where everything goes. Default: ${DEFAULT-VALUE}.")
    String output = "out/demo";

    @Option(names = "--train-iters", defaultValue = "120") int trainIters = 120;

    @Option(names = "--world-size", defaultValue = "4",
            description = "CPU ranks (Spark barrier tasks). Default: ${DEFAULT-VALUE}.") int worldSize = 4;

    @Option(names = "--tensor-model-parallel-size", defaultValue = "2") int tensorParallel = 2;

    @Option(names = "--input", description = "Text to train on instead of the JDK sources (any preprocess --input).")
    String input;

    public Demo() {
    }

    public static void main(String[] args) {
        Demo d = new Demo();
        CommandLine cl = new CommandLine(d);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            System.err.println("lattice demo: " + e.getMessage());
            System.exit(2);
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(System.out);
            return;
        }
        SparkSession spark = SparkSession.builder().appName("lattice-demo").master("local[4]")
                .config("spark.ui.showConsoleProgress", "false").config("spark.barrier.sync.timeout", "3600")
                .getOrCreate();
        try {
            d.run(spark, System.out);
        } catch (Exception e) {
            System.err.println("lattice demo: failed: " + e.getMessage());
            System.exit(1);
        } finally {
            spark.stop();
        }
    }

    public void run(SparkSession spark, PrintStream out) throws IOException {
        Path dir = Path.of(output).toAbsolutePath();
        Files.createDirectories(dir);
        out.println("== 1/4 preprocess (Spark job) ==");
        PreprocessOptions p = new PreprocessOptions();
        if (input != null) {
            p.input = new ArrayList<>(List.of(input));
        }
        p.outputPrefix = dir.resolve("corpus").toString();
        p.appendEod = true;
        p.overwrite = true;
        p.workers = 4;
        PreprocessSummary s = PreprocessJob.run(spark, p, out);
        out.print(s.render());
        String data = dir.resolve("corpus_text_document").toString();
        Path save = dir.resolve("checkpoints");

        out.println("\n== 2/4 train: GPT-2 (4 layers, hidden 128), TP" + tensorParallel + " x DP"
                + worldSize / tensorParallel + " with ZeRO-1, " + worldSize + " ranks as Spark barrier tasks ==");
        List<String> train = new ArrayList<>(List.of("--model", "gpt2", "--num-layers", "4", "--hidden-size", "128",
                "--num-attention-heads", "4", "--seq-length", "128", "--micro-batch-size", "2",
                "--global-batch-size", "8", "--train-iters", Integer.toString(trainIters), "--lr", "1e-3",
                "--min-lr", "1e-4", "--lr-decay-style", "cosine", "--lr-warmup-iters", Integer.toString(Math.min(8, trainIters / 4)),
                "--data-path", data,
                "--split", "98,2,0", "--log-interval", "10", "--eval-interval", Integer.toString(trainIters / 2),
                "--eval-iters", "2", "--save", save.toString(), "--save-interval", Integer.toString(trainIters / 2),
                "--world-size", Integer.toString(worldSize), "--tensor-model-parallel-size",
                Integer.toString(tensorParallel), "--zero-stage", "1", "--max-restarts", "1"));
        if (Files.exists(save.resolve("latest_checkpointed_iteration.txt"))) {
            deleteTree(save); // a fresh run each time
        }
        TrainJob.run(spark, TrainJob.JobOptions.parse(train.toArray(new String[0])), out);

        out.println("\n== 3/4 score held-out documents ==");
        Path heldOut = dir.resolve("held-out.jsonl");
        try (IndexedDataset ds = IndexedDataset.open(Path.of(data))) {
            List<String> lines = new ArrayList<>();
            for (int d = Math.max(0, ds.documentCount() - 8); d < ds.documentCount(); d++) {
                int[] ids = ds.document(d);
                StringBuilder b = new StringBuilder("{\"input_ids\": [");
                for (int i = 0; i < Math.min(ids.length, 128); i++) {
                    b.append(i == 0 ? "" : ", ").append(ids[i]);
                }
                lines.add(b.append("]}").toString());
            }
            Files.write(heldOut, lines);
        }
        ScoreCommand.execute(new String[] {"--checkpoint", save.toString(), "--input", heldOut.toString()}, out,
                System.err);

        out.println("\n== 4/4 generate ==");
        GenerateCommand.execute(new String[] {"--checkpoint", save.toString(), "--prompt", "public static void",
                "--max-new-tokens", "40", "--temperature", "0.8", "--top-k", "40", "--seed", "1"}, out, System.err);
        out.println("\nloss curve: " + save.resolve("loss.png"));
        out.println("metrics:    " + save.resolve("metrics.jsonl"));
        out.println("checkpoint: " + save + " (bin/lattice export-hf --checkpoint " + save + " --output DIR)");
    }

    private static void deleteTree(Path p) throws IOException {
        try (var walk = Files.walk(p)) {
            for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
