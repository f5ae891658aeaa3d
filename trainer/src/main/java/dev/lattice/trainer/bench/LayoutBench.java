package dev.lattice.trainer.bench;

import dev.lattice.trainer.cli.TrainCommand;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The model-parallel rows of {@code lattice bench}: a model trained through {@code lattice train --mock-data} at
 * several layouts of the machine's GPUs, each against the one-GPU run of the same global batch: tokens/s, TFLOP/s
 * per GPU, the share of the GPUs' time lost to communication and bubbles (1 − tokens/s ÷ (GPUs × one GPU's)), and
 * for pipelines the schedule's own bubble, (p − 1) / (v · m).
 */
final class LayoutBench {

    /** A layout: its name, GPUs, the train flags that make it, and its pipeline bubble (0 without a pipeline). */
    record Layout(String name, int gpus, List<String> flags, double bubble) {
    }

    /** Steady-state numbers of one run (the mean over iterations after the warm-up). */
    record Measured(Layout layout, double tokensPerSecond, double tflopsPerGpu) {
    }

    static final int ITERATIONS = 24;
    static final int WARMUP = 8;

    private LayoutBench() {
    }

    /** GPT-2 350M, T=1024, 16 micro-batches of 2 per iteration on one GPU (bf16 on GPUs). */
    static List<String> gpt2_350m() {
        return List.of("--num-layers", "24", "--hidden-size", "1024", "--num-attention-heads", "16",
                "--seq-length", "1024", "--max-position-embeddings", "1024", "--micro-batch-size", "2",
                "--global-batch-size", "32");
    }

    /**
     * One GPU, then with two or more: TP2, PP2 interleaved with 2 chunks per rank, DP2 with ZeRO-1 and both
     * overlaps; {@code layers} must divide by 4 and {@code microbatches} (per iteration) by 2.
     */
    static List<Layout> layouts(int gpus, int layers, int microbatches) {
        List<Layout> l = new ArrayList<>(List.of(new Layout("1 GPU", 1, List.of(), 0)));
        if (gpus >= 2) {
            l.add(new Layout("TP2", 2, List.of("--world-size", "2", "--tensor-model-parallel-size", "2"), 0));
            l.add(new Layout("PP2, interleaved (2 chunks)", 2, List.of("--world-size", "2",
                    "--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage",
                    Integer.toString(layers / 4)), 1.0 / (2 * microbatches)));
            l.add(new Layout("DP2, ZeRO-1, overlapped", 2, List.of("--world-size", "2", "--zero-stage", "1",
                    "--overlap-grad-reduce", "--overlap-param-gather"), 0));
        }
        return l;
    }

    /** Trains {@code model} at {@code layout} into {@code dir} and reads its steady numbers from metrics.jsonl. */
    static Measured run(Layout layout, List<String> model, List<String> device, Path dir) throws IOException {
        List<String> a = new ArrayList<>(List.of("--mock-data", "--train-iters", Integer.toString(ITERATIONS),
                "--log-interval", "1", "--eval-iters", "0", "--lr", "3e-4", "--save", dir.toString()));
        a.addAll(device);
        a.addAll(model);
        a.addAll(layout.flags());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TrainCommand.execute(a.toArray(new String[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        if (code != 0) {
            throw new IllegalStateException("lattice bench: " + layout.name() + " failed (exit " + code + "): "
                    + err.toString(StandardCharsets.UTF_8));
        }
        double tokens = 0;
        double tflops = 0;
        int n = 0;
        for (com.google.gson.JsonObject o : dev.lattice.trainer.engine.MetricsLog.records(dir)) {
            if (o.has("tokens_per_sec") && o.get("iteration").getAsLong() > WARMUP) {
                tokens += o.get("tokens_per_sec").getAsDouble();
                tflops += o.get("tflops_per_gpu").getAsDouble();
                n++;
            }
        }
        if (n == 0) {
            throw new IllegalStateException("lattice bench: " + layout.name() + " logged no iteration after "
                    + WARMUP + " in " + dir.resolve("metrics.jsonl"));
        }
        return new Measured(layout, tokens / n, tflops / n);
    }

    /** The table; the first row is the one-GPU reference. */
    static String table(List<Measured> rows) {
        double one = rows.get(0).tokensPerSecond();
        StringBuilder b = new StringBuilder("| layout | tokens/s | TFLOP/s per GPU | of GPUs × one GPU | time lost"
                + " | schedule's bubble |\n|---|---|---|---|---|---|\n");
        for (Measured m : rows) {
            double share = m.tokensPerSecond() / (m.layout().gpus() * one);
            b.append(String.format(Locale.ROOT, "| %s | %,.0f | %.1f | %.1f %% | %.1f %% | %s |%n",
                    m.layout().name(), m.tokensPerSecond(), m.tflopsPerGpu(), 100 * share, 100 * (1 - share),
                    m.layout().bubble() > 0 ? String.format(Locale.ROOT, "%.1f %%", 100 * m.layout().bubble()) : "—"));
        }
        return b.toString();
    }
}
