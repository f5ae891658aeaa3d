package dev.lattice.trainer.bench;

import dev.lattice.parallel.cuda.Cuda;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** {@code lattice bench}: its workloads and table, and a clear refusal where there is no GPU. */
class GpuBenchCommandTest {

    @Test
    void withoutAGpuItSaysWhatItNeeds() {
        assumeFalse(Cuda.available(), "this machine has a GPU");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = GpuBenchCommand.execute(new String[0], new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("needs a CUDA GPU"), err.toString());
    }

    @Test
    void theStandardWorkloadsAndTheirRow() {
        assertEquals(2, GpuBenchCommand.standard(1).size());
        assertEquals("GPT-2 124M, DP2 ZeRO-1", GpuBenchCommand.standard(2).get(2).name());
        assertEquals("| GPT-2 124M, 1 GPU | 244,637 | 195.2 | 19.7 % | 10.71 GiB |", GpuBenchCommand.row(
                "GPT-2 124M, 1 GPU", new GpuTrainingBenchmark.Result(1, 244637, 195.2, 0.197, 10.71)));
    }

    /** The layouts' table: shares of GPUs × one GPU, time lost and the pipeline's bubble. */
    @Test
    void layoutTableComparesEachLayoutWithOneGpu() {
        List<LayoutBench.Layout> l = LayoutBench.layouts(2, 24, 16);
        assertEquals(List.of("1 GPU", "TP2", "PP2, interleaved (2 chunks)", "DP2, ZeRO-1, overlapped"),
                l.stream().map(LayoutBench.Layout::name).toList());
        assertEquals(1.0 / 32, l.get(2).bubble(), 1e-12, "(p - 1) / (v · m) = 1 / (2 · 16)");
        assertEquals(1, LayoutBench.layouts(1, 24, 16).size());
        String t = LayoutBench.table(List.of(new LayoutBench.Measured(l.get(0), 158_186, 359.4),
                new LayoutBench.Measured(l.get(1), 174_234, 198.0),
                new LayoutBench.Measured(l.get(2), 247_421, 281.0)));
        assertTrue(t.contains("| 1 GPU | 158,186 | 359.4 | 100.0 % | 0.0 % | — |"), t);
        assertTrue(t.contains("| TP2 | 174,234 | 198.0 | 55.1 % | 44.9 % | — |"), t);
        assertTrue(t.contains("| PP2, interleaved (2 chunks) | 247,421 | 281.0 | 78.2 % | 21.8 % | 3.1 % |"), t);
    }

    /** The layouts run for real, on the CPU backend with a tiny model: the plumbing from train to the table. */
    @Test
    void layoutsRunThroughTrainOnTheCpu() {
        List<String> tiny = List.of("--num-layers", "4", "--hidden-size", "32", "--num-attention-heads", "4",
                "--seq-length", "16", "--max-position-embeddings", "16", "--micro-batch-size", "2",
                "--global-batch-size", "8", "--vocab-size", "97");
        List<LayoutBench.Measured> rows = new java.util.ArrayList<>();
        for (LayoutBench.Layout l : LayoutBench.layouts(2, 4, 4)) {
            rows.add(LayoutBench.run(l, tiny, List.of("--devices", "cpu"), List.of("--mock-data"),
                    new LayoutBench.Schedule(6, 2)));
        }
        assertEquals(4, rows.size());
        for (LayoutBench.Measured m : rows) {
            assertEquals(null, m.failure());
            assertTrue(m.tokensPerSecond() > 0, m.toString());
            assertEquals(6, m.losses().size(), m.toString());
        }
        assertEquals(4 + 2, LayoutBench.table(rows).split("\n").length);
    }

    /** Four and eight GPUs add the combinations; the pipelines' bubbles count micro-batches per pipeline. */
    @Test
    void fourAndEightGpusAddTheCombinedLayouts() {
        List<String> four = LayoutBench.layouts(4, 24, 16).stream().map(LayoutBench.Layout::name).toList();
        assertEquals(List.of("1 GPU", "TP2", "PP2, interleaved (2 chunks)", "DP2, ZeRO-1, overlapped",
                "TP2×PP2, interleaved", "TP2×DP2, ZeRO-1, overlapped", "PP2×DP2, interleaved, ZeRO-1, overlapped",
                "DP4, ZeRO-1, overlapped", "DP4, ZeRO-3", "TP4"), four);
        assertEquals(four, LayoutBench.layouts(6, 24, 16).stream().map(LayoutBench.Layout::name).toList(),
                "six GPUs lay out as four");
        List<LayoutBench.Layout> eight = LayoutBench.layouts(8, 24, 16);
        LayoutBench.Layout threeD = eight.get(7);
        assertEquals("TP2×PP2×DP2, interleaved, ZeRO-1, overlapped", threeD.name());
        assertEquals(List.of("--world-size", "8", "--tensor-model-parallel-size", "2", "--pipeline-model-parallel-size",
                "2", "--num-layers-per-virtual-pipeline-stage", "6", "--zero-stage", "1", "--overlap-grad-reduce",
                "--overlap-param-gather"), threeD.flags());
        assertEquals(1.0 / 16, threeD.bubble(), 1e-12, "8 micro-batches a pipeline: 1 / (2 · 8)");
        assertEquals(List.of("DP8, ZeRO-1, overlapped", "DP8, ZeRO-3", "TP8"),
                eight.subList(8, 11).stream().map(LayoutBench.Layout::name).toList());
    }

    /** The fullest reporting rank: the GPU allocator's max allocated where there is one, else the tensors' total. */
    @Test
    void peakMemoryIsTheFullestReportingRank() {
        String log = String.join("\n",
                " > memory of rank 3 (measured): parameters 1.00 MB | total 900.00 MB",
                " > memory of rank 3 (plan): parameters 1.00 MB | total 950.00 MB",
                "[Rank 3] (after 24 iterations) memory (MB) | allocated: 700.0 | max allocated: 1000.0 | reserved:"
                        + " 1100.0 | max reserved: 1100.0",
                " > memory of rank 0 (measured): parameters 1.00 MB | total 1000.00 MB",
                " > memory of rank 0 (plan): parameters 1.00 MB | total 1010.00 MB",
                "[Rank 0] (after 24 iterations) memory (MB) | allocated: 700.0 | max allocated: 900.0 | reserved:"
                        + " 1100.0 | max reserved: 1100.0");
        LayoutBench.PeakMemory p = LayoutBench.peakMemory(log);
        assertEquals(3, p.rank(), "1000 MiB = 1048.6 MB beats 900 MiB");
        assertEquals(950.0, p.planMB(), 0);
        assertEquals(1000.0 * 1048576 / 1e6, p.maxAllocatedMB(), 1e-9);
        LayoutBench.PeakMemory cpu = LayoutBench.peakMemory(log.lines().filter(l -> !l.startsWith("[Rank"))
                .collect(java.util.stream.Collectors.joining("\n")));
        assertEquals(0, cpu.rank(), "without a GPU line the tensors' measured total decides");
        assertEquals(null, LayoutBench.peakMemory("no memory lines"));
    }

    /** The scaling table's arithmetic on known numbers, and a failed layout kept as a row. */
    @Test
    void scalingTableComparesWithOneAndTwoGpus() {
        List<LayoutBench.Layout> l = LayoutBench.layouts(4, 24, 16);
        LayoutBench.PeakMemory mem = new LayoutBench.PeakMemory(1, 900, 1000, 1000);
        List<LayoutBench.Measured> rows = List.of(
                new LayoutBench.Measured(l.get(0), 200_000, 400, List.of(11.0, 10.0), mem, null),
                new LayoutBench.Measured(l.get(3), 380_000, 380, List.of(11.0, 10.05), mem, null),
                new LayoutBench.Measured(l.get(7), 720_000, 360, List.of(11.0, 10.2), mem, null),
                LayoutBench.Measured.failed(l.get(8), "exit 1: out of memory | rank 2"));
        String t = LayoutBench.scalingTable(rows, 1000, 0.01);
        assertTrue(t.contains("| 1 GPU | 1 | 200,000 | 200,000 | 400.0 | 40.0 % | 100.0 % | — | — |"
                + " rank 1: 1,048.6 / 1,000.0 | reference |"), t);
        assertTrue(t.contains("| DP2, ZeRO-1, overlapped | 2 | 380,000 | 190,000 | 380.0 | 38.0 % | 95.0 % | — | — |"
                + " rank 1: 1,048.6 / 1,000.0 | 5.00e-03 (≤ 1e-02) |"), t);
        assertTrue(t.contains("| DP4, ZeRO-1, overlapped | 4 | 720,000 | 180,000 | 360.0 | 36.0 % | 90.0 % | 94.7 % |"
                + " — | rank 1: 1,048.6 / 1,000.0 | 2.00e-02 (> tolerance 1e-02) |"), t);
        assertTrue(t.contains("| DP4, ZeRO-3 | 4 | failed: exit 1: out of memory / rank 2 |"), t);
    }

    /** A loss that goes NaN is as far as can be; a run that has no loss where the reference has none is not. */
    @Test
    void lossDeviationTreatsALostLossAsInfinitelyFar() {
        LayoutBench.Layout l = LayoutBench.layouts(2, 24, 16).get(3);
        List<Double> ref = List.of(11.0, 10.0, Double.NaN, 9.0);
        assertEquals(0.05, new LayoutBench.Measured(l, 1, 1, List.of(11.0, 10.5, Double.NaN, 9.0), null, null)
                .maxRelativeDeviation(ref), 1e-12);
        assertEquals(Double.POSITIVE_INFINITY, new LayoutBench.Measured(l, 1, 1,
                List.of(11.0 * 1.5, Double.NaN, Double.NaN, 9.0), null, null).maxRelativeDeviation(ref));
        assertTrue(Double.isNaN(new LayoutBench.Measured(l, 1, 1, List.of(11.0), null, null)
                .maxRelativeDeviation(ref)), "curves of different lengths are not comparable");
    }

    /** Flags the bench sets for each layout are refused after '--', with a usage error on the given stream. */
    @Test
    void layoutFlagsAfterTheSeparatorAreRefused() {
        for (String flag : List.of("--zero-stage=3", "--world-size")) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = GpuBenchCommand.execute(new String[] {"--layouts", "--devices", "cpu", "--gpus", "2", "--",
                    flag, "2"}, new PrintStream(new ByteArrayOutputStream()),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(2, code);
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("the bench sets it for each layout"),
                    err.toString(StandardCharsets.UTF_8));
        }
    }

    /** Train flags after '--' replace the model's own values instead of repeating them. */
    @Test
    void trainFlagsOverrideTheModelsFlags() {
        assertEquals(List.of("--num-layers", "24", "--hidden-size", "1024"), LayoutBench.withoutOverridden(
                List.of("--num-layers", "24", "--hidden-size", "1024", "--micro-batch-size", "2"),
                List.of("--deterministic-mode", "--micro-batch-size", "1")));
    }

    /**
     * The whole command on CPU ranks with eight threads: every layout of eight "GPUs", including TP2×PP2×DP2 with
     * ZeRO-1, DP8 with ZeRO-3 and TP8, matches the one-rank run's loss curve (fp32: summation order only) and its
     * plan; the table, the CSV and the PNG are written.
     */
    @Test
    void eightCpuRanksMatchOneRank(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = GpuBenchCommand.execute(new String[] {"--layouts", "--devices", "cpu", "--gpus", "8",
                "--train-iters", "5", "--warmup", "1", "--loss-tolerance", "1e-4", "--out", tmp.toString(), "--",
                "--num-layers", "4", "--hidden-size", "32", "--num-attention-heads", "8", "--seq-length", "16",
                "--max-position-embeddings", "16", "--micro-batch-size=1", "--global-batch-size", "16",
                "--vocab-size", "97", "--lr", "1e-2"}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        String console = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, console + err.toString(StandardCharsets.UTF_8));
        String table = java.nio.file.Files.readString(tmp.resolve("table.md"));
        assertEquals(2 + 2 + 11, table.split("\n").length, table);
        assertTrue(table.contains("| TP2×PP2×DP2, interleaved, ZeRO-1, overlapped | 8 |"), table);
        assertTrue(!table.contains("> tolerance") && !table.contains("not comparable") && !table.contains("failed"),
                table);
        LossCurves curves = LossCurves.readCsv(tmp.resolve("losses.csv"));
        assertEquals(11, curves.curves().size());
        List<Double> one = curves.curves().get("1 GPU");
        // random tokens: the loss cannot fall much, but it moves with the weights, so a wrong update would show
        double spread = one.stream().mapToDouble(Double::doubleValue).max().orElseThrow()
                - one.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        assertTrue(spread > 1e-2, "the loss moves: " + one);
        assertTrue(java.nio.file.Files.size(tmp.resolve("losses.png")) > 1000);
        for (String line : table.split("\n")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("rank \\d+: ([0-9,.]+) / ([0-9,.]+)").matcher(line);
            if (m.find()) {
                assertEquals(m.group(2), m.group(1), "measured against plan: " + line);
            }
        }
    }
}
