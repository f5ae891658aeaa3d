package dev.lattice.trainer.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model presets of conf/presets: each loads, each recorded layout (8, 64, 256 GPUs of 80 GB) is what
 * {@code lattice plan --recommend} computes now and fits, and {@code lattice train --preset P <layout> --dry-run}
 * accepts it. And the standard worked example, GPT-3 175B on 256 GPUs with TP8 × PP16 × DP2 and ZeRO-1.
 */
class PresetsTest {

    static List<String> presets() {
        return Presets.names();
    }

    record Run(int code, String out, String err) {
    }

    static Run plan(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = PlanCommand.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theElevenModelsOfTheIssueAreBundled() {
        assertEquals(List.of("gpt2-124m", "gpt2-350m", "gpt2-774m", "gpt2-1.5b", "gpt3-6.7b", "gpt3-13b",
                "gpt3-175b", "llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b"), Presets.names());
    }

    @ParameterizedTest
    @MethodSource("presets")
    void recordedLayoutsAreWhatPlanRecommendsAndTheyFit(String name) {
        Presets.Preset p = Presets.load(name);
        assertEquals(name, p.name());
        for (int gpus : new int[] {8, 64, 256}) {
            assertTrue(p.layouts().containsKey(gpus), name + ": no entry for " + gpus + " GPUs");
            Optional<Presets.Layout> now = PresetLayouts.compute(name, gpus);
            assertEquals(now.orElse(null), p.layouts().get(gpus), name + " on " + gpus
                    + " GPUs: the preset disagrees with lattice plan --recommend (regenerate the layouts)");
            Presets.Layout l = p.layouts().get(gpus);
            if (l == null) {
                continue; // recorded as "nothing fits" (e.g. 175B on one node)
            }
            assertEquals(gpus, l.tp() * l.pp() * l.dp());
            assertTrue(l.memoryGb() <= PresetLayouts.GPU_MEMORY_GB * LayoutAdvisor.HEADROOM, name + " " + l);
            assertTrue(l.tp() <= PresetLayouts.GPUS_PER_NODE, "TP stays within a node: " + l);
            List<String> args = new ArrayList<>(List.of("--preset", name, "--train-iters", "1", "--dry-run"));
            args.addAll(l.args());
            TrainFixtures.Run r = TrainFixtures.train(args);
            assertEquals(0, r.code(), name + " " + gpus + " GPUs: " + r.err());
            assertTrue(r.out().contains("dry run: flags valid"), r.out());
        }
        Run rec = plan("--preset", name, "--recommend", "--gpus", "64");
        Presets.Layout at64 = p.layouts().get(64);
        assertEquals(at64 == null ? 1 : 0, rec.code(), rec.err());
        if (at64 != null) {
            assertTrue(rec.out().contains(String.join(" ", at64.args())), rec.out());
        }
    }

    /**
     * A preset file of an earlier version ("recompute_activations": true / false) still loads, with the meaning it
     * had (whole layers / the activation function recomputed); an unknown granularity is refused by name.
     */
    @Test
    void presetFilesOfTheEarlierFormatLoadAndBadGranularitiesAreNamed(@org.junit.jupiter.api.io.TempDir
                                                                      java.nio.file.Path tmp) throws Exception {
        String layout = "{\"tensor_model_parallel_size\": 1, \"pipeline_model_parallel_size\": 1,"
                + " \"data_parallel_size\": 8, \"zero_stage\": 1, %s, \"sequence_parallel\": false,"
                + " \"memory_gb\": 1.0}";
        String preset = "{\"name\": \"old\", \"args\": [\"--num-layers\", \"2\"], \"layouts\": {\"8\": %s,"
                + " \"64\": %s}}";
        java.nio.file.Path old = tmp.resolve("old.json");
        java.nio.file.Files.writeString(old, String.format(preset,
                String.format(layout, "\"recompute_activations\": true"),
                String.format(layout, "\"recompute_activations\": false")));
        Presets.Preset p = Presets.load(old.toString());
        assertEquals(dev.lattice.trainer.model.Recomputation.FULL, p.layouts().get(8).recompute());
        assertEquals(dev.lattice.trainer.model.Recomputation.SELECTIVE, p.layouts().get(64).recompute());
        assertEquals(List.of("--recompute-granularity", "full"), p.layouts().get(8).args().subList(8, 10));
        java.nio.file.Path bad = tmp.resolve("bad.json");
        java.nio.file.Files.writeString(bad, String.format(preset,
                String.format(layout, "\"recompute_granularity\": \"partial\""),
                String.format(layout, "\"recompute_granularity\": \"none\"")));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Presets.load(bad.toString()));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("recompute_granularity"
                + " \"partial\": expected none, selective or full"), e.getMessage());
    }

    @Test
    void nothingFitsIsSaidPlainly() {
        Run r = plan("--preset", "gpt3-175b", "--recommend", "--gpus", "8");
        assertEquals(1, r.code());
        assertTrue(r.out().contains("no layout of 8 GPUs"), r.out());
        Run bad = plan("--preset", "gpt5");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("no such preset") && bad.err().contains("gpt3-175b"), bad.err());
    }

    /**
     * The standard worked example: GPT-3 175B, 256 A100 80 GB, TP8 × PP16 × DP2, ZeRO-1 ≈ 23 GB per GPU = 2.7 GB
     * parameters (bf16) + 5.5 GB optimizer (Adam's fp32 moments over DP2) + 2.7 GB gradients (bf16) + ~12 GB
     * activations. Lattice keeps fp32 parameters (its master weights) and fp32 gradients, so those two lines are
     * exactly twice the example's; the optimizer line matches; with sequence parallelism and full recomputation
     * its first stage holds 16 micro-batches of fp32 residual streams — about twice the example's ~12 GB of bf16
     * activations (with --bf16 on GPUs, below it).
     */
    @Test
    void gpt3WorkedExample() {
        Run r = plan("--preset", "gpt3-175b", "--world-size", "256", "--tensor-model-parallel-size", "8",
                "--pipeline-model-parallel-size", "16", "--use-distributed-optimizer", "--sequence-parallel",
                "--recompute-granularity", "full");
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("rank 16 \\(pipeline stage 1\\): parameters ([0-9.]+) MB \\| gradients ([0-9.]+)"
                + " MB \\| optimizer ([0-9.]+) MB \\| activations ([0-9.]+) MB").matcher(r.out());
        assertTrue(m.find(), r.out());
        double params = Double.parseDouble(m.group(1)) / 1e3;
        double grads = Double.parseDouble(m.group(2)) / 1e3;
        double optimizer = Double.parseDouble(m.group(3)) / 1e3;
        double acts = Double.parseDouble(m.group(4)) / 1e3;
        assertEquals(2 * 2.7, params, 0.3, "fp32 parameters: twice the example's bf16 2.7 GB");
        assertEquals(2 * 2.7, grads, 0.3, "fp32 gradients: twice the example's bf16 2.7 GB");
        assertEquals(5.5, optimizer, 0.3, "Adam's moments over DP2: the example's 5.5 GB");
        // counted at 4 bytes per element (the example's ~12 GB are 2-byte activations, so twice would be 24 GB);
        // below that because the layers share one row-parallel output and a middle stage holds no logits
        assertEquals(19.4, acts, 19.4 * 0.05, "activations at 4 bytes per element");
        // with --bf16 on GPUs they are stored in 2 bytes (statistics in 4): below the example's ~12 GB
        Run bf16 = plan("--preset", "gpt3-175b", "--world-size", "256", "--tensor-model-parallel-size", "8",
                "--pipeline-model-parallel-size", "16", "--use-distributed-optimizer", "--sequence-parallel",
                "--recompute-granularity", "full", "--bf16", "--devices", "cuda");
        assertEquals(0, bf16.code(), bf16.err());
        Matcher b = Pattern.compile("rank 16 \\(pipeline stage 1\\): .* activations ([0-9.]+) MB").matcher(bf16.out());
        assertTrue(b.find(), bf16.out());
        assertEquals(9.7, Double.parseDouble(b.group(1)) / 1e3, 0.2, "bf16 activations");
        assertTrue(bf16.out().contains("bf16 activations"), bf16.out());
    }
}
