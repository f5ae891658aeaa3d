package dev.lattice.trainer.cli;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every example in conf/examples parses and {@code lattice train --dry-run} accepts it. */
class ExampleConfigsTest {

    private static final Path EXAMPLES = Path.of("..", "conf", "examples");

    @Test
    void everyFlagFileIsAcceptedByTheDryRun() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(EXAMPLES)) {
            files = s.filter(p -> p.toString().endsWith(".args")).sorted().toList();
        }
        assertFalse(files.isEmpty());
        for (Path f : files) {
            TrainFixtures.Run r = TrainFixtures.train(List.of("@" + f, "--dry-run"));
            assertEquals(0, r.code(), f + ": " + r.err());
            assertTrue(r.out().contains("dry run: flags valid"), f + ": " + r.out());
        }
    }

    @Test
    void theDeepSpeedJsonSetsBatchZeroAndBf16() throws IOException {
        try (Stream<Path> s = Files.list(EXAMPLES)) {
            assertTrue(s.anyMatch(p -> p.toString().endsWith(".json")));
        }
        TrainFixtures.Run r = TrainFixtures.train(List.of("--preset", "gpt2-124m", "--world-size", "8",
                "--config", EXAMPLES.resolve("deepspeed-zero1-bf16.json").toString(), "--train-iters", "10",
                "--dry-run"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("ZeRO 1, micro-batch 4, global batch 512"), r.out());
    }

    @Test
    void aWrongLayoutFailsTheDryRunWithTheReason() {
        TrainFixtures.Run r = TrainFixtures.train(List.of("--preset", "gpt2-124m", "--world-size", "6",
                "--tensor-model-parallel-size", "4", "--train-iters", "1", "--dry-run"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("6") && r.err().contains("4"), r.err());
    }
}
