package dev.lattice.spark.preprocess;

import dev.lattice.spark.testing.SparkSubmitRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.lattice.spark.preprocess.PreprocessFixtures.jsonLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drives the jobs through {@code org.apache.spark.deploy.SparkSubmit}, the class the spark-submit script runs, in a
 * child JVM (a driver of its own, as spark-submit would start): preprocessing, then training on its output.
 */
class SparkSubmitTest {

    @TempDir
    Path tmp;

    @Test
    void preprocessAndTrainRunThroughSparkSubmit() throws Exception {
        Path input = tmp.resolve("corpus.jsonl");
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 80; i++) {
            lines.add(jsonLine("text", "Hello world " + i + ", submitted by spark-submit to train a tiny model."));
        }
        Files.write(input, lines);
        String prefix = tmp.resolve("out/submitted").toString();
        SparkSubmitRunner.Result pre = SparkSubmitRunner.submit(tmp, PreprocessJob.class.getName(),
                List.of("--input", input.toString(), "--output-prefix", prefix, "--append-eod"), 180);
        assertTrue(pre.finished(), "spark-submit did not finish in 180 s:\n" + pre.output());
        assertEquals(0, pre.exitCode(), pre.output());
        assertTrue(pre.output().contains("[preprocess] done"), pre.output());
        try (var ds = dev.lattice.data.indexed.IndexedDataset.open(Path.of(prefix + "_text_document"))) {
            assertEquals(80, ds.documentCount());
            assertEquals(PreprocessFixtures.expectedIds(
                    "Hello world 0, submitted by spark-submit to train a tiny model.", true).length, ds.document(0).length);
        }

        Path save = tmp.resolve("ckpt");
        SparkSubmitRunner.Result train = SparkSubmitRunner.submit(tmp, "dev.lattice.spark.train.TrainJob",
                List.of("--model", "gpt2", "--num-layers", "2", "--hidden-size", "32", "--num-attention-heads", "4",
                        "--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "4",
                        "--train-iters", "4", "--data-path", prefix + "_text_document", "--split", "100,0,0",
                        "--log-interval", "2", "--eval-iters", "0", "--save", save.toString(), "--world-size", "2",
                        "--tensor-model-parallel-size", "2"), 240);
        assertTrue(train.finished(), "spark-submit did not finish in 240 s:\n" + train.output());
        assertEquals(0, train.exitCode(), train.output());
        assertTrue(train.output().contains("training finished on 2 ranks"), train.output());
        assertEquals("4", Files.readString(save.resolve("latest_checkpointed_iteration.txt")));
    }
}
