package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tensor-core attention (bf16 products, what {@code --bf16} runs) against the CPU reference, forward and
 * backward, with bf16 tolerances in the form llm.c uses: |gpu − cpu| ≤ atol + 0.079·|cpu|, atol 2 % of the tensor's
 * largest value, and the whole tensor's relative L2 error below 2 %. Causal edges, GQA, sequence lengths that are
 * not multiples of the 64-row tiles. Skipped without a CUDA device.
 */
class TensorCoreAttentionTest {

    static void assertBf16Close(String what, float[] want, float[] got) {
        double maxAbs = 0;
        for (float w : want) {
            maxAbs = Math.max(maxAbs, Math.abs(w));
        }
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < want.length; i++) {
            double d = got[i] - want[i];
            diff += d * d;
            norm += (double) want[i] * want[i];
            assertTrue(Math.abs(d) <= 0.02 * maxAbs + 0.079 * Math.abs(want[i]), what + "[" + i + "]: gpu " + got[i]
                    + " cpu " + want[i] + " (max |cpu| " + maxAbs + ")");
        }
        assertTrue(Math.sqrt(diff) <= 0.02 * Math.sqrt(norm), what + ": relative L2 error "
                + Math.sqrt(diff / Math.max(norm, 1e-30)));
    }

    @ParameterizedTest(name = "B={0} T={1} H={2} G={3} d={4}")
    @CsvSource({"2,70,4,2,16", "1,200,2,2,64", "2,130,4,1,64", "1,64,2,1,128", "1,1,2,2,32"})
    void matchesTheCpuReference(int b, int t, int heads, int groups, int d) {
        assumeTrue(Cuda.available(), Cuda::unavailableReason);
        Random r = new Random(11);
        int row = (heads + 2 * groups) * d;
        float[] qkv = CudaBackendTest.randn(r, b * t * row, 1);
        int outLen = b * t * heads * d;
        float[] dout = CudaBackendTest.randn(r, outLen, 1);
        CpuBackend cpu = new CpuBackend();
        Tensor cq = cpu.fromHost(qkv, qkv.length);
        Tensor cOut = cpu.zeros(outLen);
        Tensor cLse = cpu.zeros(b * heads * t);
        cpu.attentionForward(cOut, cLse, cq, b, t, heads, groups, d);
        Tensor cd = cpu.zeros(qkv.length);
        cpu.attentionBackward(cd, cpu.fromHost(dout, outLen), cq, cOut, cLse, b, t, heads, groups, d);
        try (CudaBackend gpu = new CudaBackend(0, GemmPrecision.BF16)) {
            Tensor gq = gpu.fromHost(qkv, qkv.length);
            Tensor gOut = gpu.zeros(outLen);
            Tensor gLse = gpu.zeros(b * heads * t);
            gpu.attentionForward(gOut, gLse, gq, b, t, heads, groups, d);
            assertBf16Close("out", cpu.toHost(cOut), gpu.toHost(gOut));
            assertBf16Close("lse", cpu.toHost(cLse), gpu.toHost(gLse));
            Tensor gd = gpu.fromHost(CudaBackendTest.randn(r, qkv.length, 1), qkv.length); // every slot overwritten
            gpu.attentionBackward(gd, gpu.fromHost(dout, outLen), gq, gOut, gLse, b, t, heads, groups, d);
            assertBf16Close("dqkv", cpu.toHost(cd), gpu.toHost(gd));
        }
    }
}
