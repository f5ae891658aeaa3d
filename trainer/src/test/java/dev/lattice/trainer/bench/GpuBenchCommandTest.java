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
    void layoutsRunThroughTrainOnTheCpu(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        List<String> tiny = List.of("--num-layers", "4", "--hidden-size", "32", "--num-attention-heads", "4",
                "--seq-length", "16", "--max-position-embeddings", "16", "--micro-batch-size", "2",
                "--global-batch-size", "8", "--vocab-size", "97");
        List<LayoutBench.Measured> rows = new java.util.ArrayList<>();
        for (LayoutBench.Layout l : LayoutBench.layouts(2, 4, 4)) {
            rows.add(LayoutBench.run(l, tiny, List.of("--devices", "cpu"), tmp.resolve("r" + rows.size())));
        }
        assertEquals(4, rows.size());
        for (LayoutBench.Measured m : rows) {
            assertTrue(m.tokensPerSecond() > 0 && m.tflopsPerGpu() > 0, m.toString());
        }
        assertEquals(4 + 2, LayoutBench.table(rows).split("\n").length);
    }
}
