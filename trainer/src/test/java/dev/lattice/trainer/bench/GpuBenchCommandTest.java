package dev.lattice.trainer.bench;

import dev.lattice.parallel.cuda.Cuda;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

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
}
