package dev.lattice.trainer.bench;

import dev.lattice.trainer.cli.TrainCommand;
import dev.lattice.trainer.engine.LogLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The model-parallel rows of {@code lattice bench}: a model trained through {@code lattice train} at several layouts
 * of the machine's GPUs, each against the one-GPU run of the same global batch and data: tokens/s, TFLOP/s per GPU,
 * the share of the GPUs' time lost to communication and bubbles (1 − tokens/s ÷ (GPUs × one GPU's)), for pipelines
 * the schedule's own bubble, (p − 1) / (v · m), the fullest GPU's memory against {@code lattice plan}, and how far
 * each iteration's lm loss is from the one-GPU run's.
 */
final class LayoutBench {

    /** A layout: its name, GPUs, the train flags that make it, and its pipeline bubble (0 without a pipeline). */
    record Layout(String name, int gpus, List<String> flags, double bubble) {
    }

    /**
     * The memory of the fullest reporting rank (Megatron reports data-parallel rank 0 of each model-parallel
     * position): what its tensors held (measured), the plan's total, both in MB (10^6 bytes), and on a GPU the
     * allocator's "max allocated" in MiB (NaN on the CPU).
     */
    record PeakMemory(int rank, double measuredMB, double planMB, double maxAllocatedMiB) {

        double maxAllocatedMB() {
            return maxAllocatedMiB * 1048576 / 1e6;
        }

        /** What the rank held, in MB: the allocator's max allocated on a GPU, else its tensors' total. */
        double heldMB() {
            return Double.isNaN(maxAllocatedMiB) ? measuredMB : maxAllocatedMB();
        }
    }

    /**
     * One run: steady-state numbers (the mean over iterations after the warm-up), every iteration's lm loss, the
     * fullest GPU's memory; or why it failed (then the numbers are NaN).
     */
    record Measured(Layout layout, double tokensPerSecond, double tflopsPerGpu, List<Double> losses,
                    PeakMemory memory, String failure) {

        Measured(Layout layout, double tokensPerSecond, double tflopsPerGpu) {
            this(layout, tokensPerSecond, tflopsPerGpu, List.of(), null, null);
        }

        static Measured failed(Layout layout, String why) {
            return new Measured(layout, Double.NaN, Double.NaN, List.of(), null, why);
        }

        /**
         * max over iterations of |loss − reference| ÷ reference: an iteration where both have no finite loss is
         * skipped, one where only one side has none counts as infinitely far; NaN if the curves differ in length.
         */
        double maxRelativeDeviation(List<Double> reference) {
            if (losses.size() != reference.size()) {
                return Double.NaN;
            }
            double worst = 0;
            for (int i = 0; i < losses.size(); i++) {
                double a = losses.get(i);
                double r = reference.get(i);
                if (!Double.isFinite(a) && !Double.isFinite(r)) {
                    continue;
                }
                double d = Double.isFinite(a) && Double.isFinite(r) ? Math.abs(a - r) / Math.abs(r)
                        : Double.POSITIVE_INFINITY;
                worst = Math.max(worst, d);
            }
            return worst;
        }
    }

    /** Iterations of each run and how many of the first are left out of the means. */
    record Schedule(int iterations, int warmup) {
    }

    static final Schedule STANDARD = new Schedule(24, 8);

    private LayoutBench() {
    }

    /** GPT-2 350M, T=1024, 16 micro-batches of 2 per iteration on one GPU (bf16 on GPUs). */
    static List<String> gpt2_350m() {
        return List.of("--num-layers", "24", "--hidden-size", "1024", "--num-attention-heads", "16",
                "--seq-length", "1024", "--max-position-embeddings", "1024", "--micro-batch-size", "2",
                "--global-batch-size", "32");
    }

    /** GPT-3 1.3B's shape (24 layers, hidden 2048, 16 heads), T=1024, 16 micro-batches of 4 per iteration. */
    static List<String> gpt_1_3b() {
        return List.of("--num-layers", "24", "--hidden-size", "2048", "--num-attention-heads", "16",
                "--seq-length", "1024", "--max-position-embeddings", "1024", "--micro-batch-size", "4",
                "--global-batch-size", "64");
    }

    /**
     * One GPU, then with two or more: TP2, PP2 interleaved with 2 chunks per rank, DP2 with ZeRO-1 and both
     * overlaps; with four or more (n, the largest power of two up to {@code gpus}) TP2×PP2, TP2×DP2 and PP2×DP2
     * on four, with eight or more TP2×PP2×DP(n/4), and then DP n with ZeRO-1 and with ZeRO-3, and TP n. Pipelines are
     * interleaved with 2 chunks per rank, so {@code layers} must divide by 4 and {@code microbatches} (per
     * iteration) by 2 × the data-parallel size.
     */
    static List<Layout> layouts(int gpus, int layers, int microbatches) {
        List<Layout> l = new ArrayList<>(List.of(new Layout("1 GPU", 1, List.of(), 0)));
        String chunk = Integer.toString(layers / 4);
        List<String> zero1 = List.of("--zero-stage", "1", "--overlap-grad-reduce", "--overlap-param-gather");
        if (gpus >= 2) {
            l.add(new Layout("TP2", 2, List.of("--world-size", "2", "--tensor-model-parallel-size", "2"), 0));
            l.add(new Layout("PP2, interleaved (2 chunks)", 2, List.of("--world-size", "2",
                    "--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage", chunk),
                    bubble(2, 2, microbatches)));
            l.add(new Layout("DP2, ZeRO-1, overlapped", 2, concat(List.of("--world-size", "2"), zero1), 0));
        }
        int n = gpus < 1 ? 1 : Integer.highestOneBit(gpus);
        if (n >= 4) {
            l.add(new Layout("TP2×PP2, interleaved", 4, List.of("--world-size", "4", "--tensor-model-parallel-size",
                    "2", "--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage", chunk),
                    bubble(2, 2, microbatches)));
            l.add(new Layout("TP2×DP2, ZeRO-1, overlapped", 4, concat(List.of("--world-size", "4",
                    "--tensor-model-parallel-size", "2"), zero1), 0));
            l.add(new Layout("PP2×DP2, interleaved, ZeRO-1, overlapped", 4, concat(List.of("--world-size", "4",
                    "--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage", chunk), zero1),
                    bubble(2, 2, microbatches / 2)));
        }
        if (n >= 8) {
            l.add(new Layout("TP2×PP2×DP" + n / 4 + ", interleaved, ZeRO-1, overlapped", n, concat(List.of(
                    "--world-size", Integer.toString(n), "--tensor-model-parallel-size", "2",
                    "--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage", chunk), zero1),
                    bubble(2, 2, microbatches / (n / 4))));
        }
        if (n >= 4) {
            String w = Integer.toString(n);
            l.add(new Layout("DP" + n + ", ZeRO-1, overlapped", n, concat(List.of("--world-size", w), zero1), 0));
            l.add(new Layout("DP" + n + ", ZeRO-3", n, List.of("--world-size", w, "--zero-stage", "3"), 0));
            l.add(new Layout("TP" + n, n, List.of("--world-size", w, "--tensor-model-parallel-size", w), 0));
        }
        return l;
    }

    /** Flag pairs less those {@code overrides} names again (the caller's value wins, e.g. a smaller batch). */
    static List<String> withoutOverridden(List<String> flagPairs, List<String> overrides) {
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < flagPairs.size(); i += 2) {
            if (!overrides.contains(flagPairs.get(i))) {
                kept.add(flagPairs.get(i));
                kept.add(flagPairs.get(i + 1));
            }
        }
        return kept;
    }

    /** An interleaved schedule's bubble: (p − 1) / (v · m) for m micro-batches a pipeline. */
    private static double bubble(int p, int v, int m) {
        return (p - 1) / (double) (v * m);
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    /**
     * Trains {@code model} at {@code layout} on {@code data} (flags such as {@code --mock-data} or
     * {@code --data-path P}) and reads its numbers back from the log; a run that fails is reported, not thrown.
     */
    static Measured run(Layout layout, List<String> model, List<String> device, List<String> data,
                        Schedule schedule) {
        return run(layout, model, device, data, schedule, null);
    }

    /** As above, keeping the run's console (and errors) in {@code logFile} when it is not null. */
    static Measured run(Layout layout, List<String> model, List<String> device, List<String> data,
                        Schedule schedule, java.nio.file.Path logFile) {
        // a warm-up of the learning rate: without one, GPT-2 350M's loss jumps from 7.8 to 16 at iteration 3, and
        // that instability, not the layout, would decide how far curves drift apart
        List<String> a = new ArrayList<>(withoutOverridden(List.of("--train-iters",
                Integer.toString(schedule.iterations()), "--log-interval", "1", "--eval-iters", "0", "--lr", "3e-4",
                "--min-lr", "3e-5", "--lr-warmup-iters", Integer.toString(Math.max(1, schedule.iterations() / 4))),
                data));
        a.addAll(data);
        a.addAll(device);
        a.addAll(model);
        a.addAll(layout.flags());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try {
            code = TrainCommand.execute(a.toArray(new String[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            return Measured.failed(layout, e.toString());
        } finally {
            if (logFile != null) {
                try {
                    java.nio.file.Files.writeString(logFile, "# layout: " + layout.name() + "\nlattice train "
                            + String.join(" ", a) + "\n"
                            + out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8));
                } catch (java.io.IOException e) {
                    System.err.println("lattice bench: could not keep the log " + logFile + ": " + e.getMessage());
                }
            }
        }
        if (code != 0) {
            String why = err.toString(StandardCharsets.UTF_8).strip();
            return Measured.failed(layout, "exit " + code + (why.isEmpty() ? "" : ": " + why.lines().findFirst()
                    .orElse("")));
        }
        return measured(layout, out.toString(StandardCharsets.UTF_8), schedule);
    }

    /** The numbers of one run's log: iteration lines, then the memory lines of the reporting ranks. */
    static Measured measured(Layout layout, String log, Schedule schedule) {
        List<Double> losses = new ArrayList<>();
        double tokens = 0;
        double tflops = 0;
        int n = 0;
        for (String line : log.split("\n")) {
            LogLine.Iteration it = LogLine.parse(line);
            if (it == null) {
                continue;
            }
            losses.add(it.lmLoss());
            if (it.iteration() > schedule.warmup()) {
                tokens += it.tokensPerSecond();
                tflops += it.tflopsPerGpu();
                n++;
            }
        }
        if (n == 0) {
            return Measured.failed(layout, "logged no iteration after " + schedule.warmup());
        }
        return new Measured(layout, tokens / n, tflops / n, losses, peakMemory(log), null);
    }

    private static final Pattern TOTAL = Pattern.compile(
            " > memory of rank (\\d+) \\((measured|plan)\\):.* total ([0-9.]+) MB");
    private static final Pattern DEVICE = Pattern.compile("\\[Rank (\\d+)] \\(after \\d+ iterations\\) memory \\(MB\\)"
            + " \\| allocated: [0-9.]+ \\| max allocated: ([0-9.]+)");

    /** The reporting rank that held the most (max allocated on a GPU, else its tensors), or null if none reported. */
    static PeakMemory peakMemory(String log) {
        java.util.Map<Integer, double[]> ranks = new java.util.TreeMap<>(); // rank -> {measured, plan, max allocated}
        for (String line : log.split("\n")) {
            Matcher m;
            if ((m = TOTAL.matcher(line)).find()) {
                entry(ranks, m)[m.group(2).equals("measured") ? 0 : 1] = Double.parseDouble(m.group(3));
            } else if ((m = DEVICE.matcher(line)).find()) {
                entry(ranks, m)[2] = Double.parseDouble(m.group(2));
            }
        }
        PeakMemory fullest = null;
        for (var e : ranks.entrySet()) {
            double[] v = e.getValue();
            PeakMemory p = new PeakMemory(e.getKey(), v[0], v[1], v[2]);
            if (fullest == null || p.heldMB() > fullest.heldMB()) {
                fullest = p;
            }
        }
        return fullest;
    }

    private static double[] entry(java.util.Map<Integer, double[]> ranks, Matcher m) {
        return ranks.computeIfAbsent(Integer.parseInt(m.group(1)), r -> new double[] {Double.NaN, Double.NaN,
                Double.NaN});
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
                    bubbleCell(m.layout())));
        }
        return b.toString();
    }

    private static String bubbleCell(Layout l) {
        return l.bubble() > 0 ? String.format(Locale.ROOT, "%.1f %%", 100 * l.bubble()) : "—";
    }

    /**
     * The scaling table of {@code lattice bench --layouts}: per layout tokens/s in all and per GPU, TFLOP/s and MFU
     * per GPU (of {@code peakTflops}), the share of GPUs × one GPU and of GPUs/2 × the best two-GPU layout, the
     * pipeline's bubble, the fullest GPU's memory against the plan, and the largest relative distance of an
     * iteration's lm loss from the one-GPU run's, marked against {@code tolerance}. The first row is one GPU.
     */
    static String scalingTable(List<Measured> rows, double peakTflops, double tolerance) {
        Measured one = rows.get(0);
        boolean reference = one.failure() == null;
        double bestTwo = rows.stream().filter(m -> m.layout().gpus() == 2 && m.failure() == null)
                .mapToDouble(Measured::tokensPerSecond).max().orElse(Double.NaN);
        StringBuilder b = new StringBuilder("| layout | GPUs | tokens/s | per GPU | TFLOP/s per GPU | MFU"
                + " | of GPUs × 1 GPU | of GPUs/2 × best 2-GPU | bubble | fullest GPU: max allocated / plan (MB)"
                + " | lm loss: max deviation from 1 GPU |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Measured m : rows) {
            Layout l = m.layout();
            if (m.failure() != null) {
                b.append(String.format(Locale.ROOT, "| %s | %d | failed: %s | | | | | | | | |%n", l.name(), l.gpus(),
                        m.failure().replace('|', '/')));
                continue;
            }
            String vsTwo = l.gpus() > 2 && !Double.isNaN(bestTwo)
                    ? String.format(Locale.ROOT, "%.1f %%", 100 * m.tokensPerSecond() / (l.gpus() / 2.0 * bestTwo))
                    : "—";
            String vsOne = reference ? String.format(Locale.ROOT, "%.1f %%",
                    100 * m.tokensPerSecond() / (l.gpus() * one.tokensPerSecond())) : "— (1 GPU failed)";
            String loss = m == one ? "reference" : reference ? deviationCell(m.maxRelativeDeviation(one.losses()),
                    tolerance) : "— (1 GPU failed)";
            b.append(String.format(Locale.ROOT, "| %s | %d | %,.0f | %,.0f | %.1f | %.1f %% | %s | %s | %s | %s"
                            + " | %s |%n", l.name(), l.gpus(), m.tokensPerSecond(), m.tokensPerSecond() / l.gpus(),
                    m.tflopsPerGpu(), 100 * m.tflopsPerGpu() / peakTflops, vsOne, vsTwo, bubbleCell(l),
                    memoryCell(m.memory()), loss));
        }
        return b.toString();
    }

    private static String memoryCell(PeakMemory p) {
        if (p == null) {
            return "—";
        }
        return String.format(Locale.ROOT, "rank %d: %,.1f / %,.1f", p.rank(), p.heldMB(), p.planMB());
    }

    private static String deviationCell(double deviation, double tolerance) {
        if (Double.isNaN(deviation)) {
            return "not comparable";
        }
        return String.format(Locale.ROOT, "%.2e (%s %.0e)", deviation, deviation <= tolerance ? "≤" : "> tolerance",
                tolerance);
    }
}
