package dev.lattice.spark.demo;

import dev.lattice.spark.testing.SparkTestSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's first command, on a small corpus: every stage runs and leaves its outputs. */
class DemoTest {

    @TempDir
    Path tmp;

    @Test
    void preprocessTrainScoreAndGenerate() throws Exception {
        Path input = tmp.resolve("docs.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            lines.add("{\"text\": \"public static void main(String[] args) { int x" + i + " = " + i
                    + "; System.out.println(x" + i + "); }\"}");
        }
        Files.write(input, lines);
        Demo demo = new Demo();
        new CommandLine(demo).parseArgs("--output", tmp.resolve("demo").toString(), "--train-iters", "6",
                "--input", input.toString(), "--world-size", "2"); // the shared test session is local[2]
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        demo.run(SparkTestSession.get(), new PrintStream(out, true, StandardCharsets.UTF_8));
        String log = out.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("training finished on 2 ranks"), log);
        assertTrue(log.contains("\"sequences\":8"), log);
        assertTrue(log.contains("public static void"), log);
        Path ckpt = tmp.resolve("demo/checkpoints");
        assertTrue(Files.exists(ckpt.resolve("loss.png")) && Files.exists(ckpt.resolve("metrics.jsonl")));
        assertTrue(Files.exists(ckpt.resolve("iter_0000006/mp_rank_01/model.safetensors")), "TP2 shards");
    }
}
