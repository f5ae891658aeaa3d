package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.Bf16;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * bf16-stored activations (what {@code --bf16} keeps on GPUs): values round to bf16 on the way in, every kernel
 * reads and writes them through the same storage contract, GEMMs take them as bf16 operands, and results stay within
 * bf16 tolerance of the fp32 CPU reference. Skipped without a CUDA device.
 */
class Bf16StorageTest {

    private static CudaBackend gpu;
    private static final CpuBackend cpu = new CpuBackend();

    @BeforeAll
    static void open() {
        assumeTrue(Cuda.available(), Cuda::unavailableReason);
        gpu = new CudaBackend(0, GemmPrecision.BF16);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    @Test
    void activationsAreBf16AndRoundTripToTheRoundedValues() {
        Tensor t = gpu.activations(3, 7);
        assertTrue(((CudaTensor) t).isBf16());
        assertEquals(2, ((CudaTensor) t).elementBytes());
        float[] x = CudaBackendTest.randn(new Random(1), 21, 3);
        gpu.upload(t, x);
        float[] back = gpu.toHost(t);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Bf16.round(x[i]), back[i], 0f, "element " + i);
        }
        Tensor f = gpu.zeros(3, 7);
        gpu.copy(f, t); // bf16 → fp32 is exact
        assertEquals(java.util.Arrays.toString(back), java.util.Arrays.toString(gpu.toHost(f)));
        gpu.storeActivationsInBf16(false);
        try {
            assertTrue(!((CudaTensor) gpu.activations(2)).isBf16(), "TP/PP runs keep fp32 activations");
        } finally {
            gpu.storeActivationsInBf16(true);
        }
    }

    @Test
    void matmulWithBf16OperandsAndOutputs() {
        Random r = new Random(2);
        int m = 40, n = 24, k = 96;
        float[] a = CudaBackendTest.randn(r, m * k, 1);
        float[] b = CudaBackendTest.randn(r, n * k, 1);
        Tensor ca = cpu.fromHost(a, m, k);
        Tensor cb = cpu.fromHost(b, n, k);
        Tensor cc = cpu.zeros(m, n);
        cpu.matmul(cc, ca, false, cb, true, m, n, k, 1f, 0f);
        float[] want = cpu.toHost(cc);
        Tensor ga = gpu.activations(m, k);
        gpu.upload(ga, a);
        Tensor gb = gpu.fromHost(b, n, k); // an fp32 "weight"
        Tensor out16 = gpu.activations(m, n);
        gpu.matmul(out16, ga, false, gb, true, m, n, k, 1f, 0f);
        Tensor out32 = gpu.zeros(m, n);
        gpu.matmul(out32, ga, false, gb, true, m, n, k, 1f, 0f);
        TensorCoreAttentionTest.assertBf16Close("bf16 output", want, gpu.toHost(out16));
        TensorCoreAttentionTest.assertBf16Close("fp32 output", want, gpu.toHost(out32));
    }

    @Test
    void layerNormGeluAndResidualOnBf16Tensors() {
        Random r = new Random(3);
        int rows = 50, cols = 64;
        float[] x = CudaBackendTest.randn(r, rows * cols, 2);
        float[] w = CudaBackendTest.randn(r, cols, 1);
        float[] bias = CudaBackendTest.randn(r, cols, 1);
        Tensor cx = cpu.fromHost(x, rows, cols);
        Tensor cout = cpu.zeros(rows, cols);
        cpu.layerNormForward(cout, cpu.zeros(rows), cpu.zeros(rows), cx, cpu.fromHost(w, cols),
                cpu.fromHost(bias, cols), rows, cols, 1e-5f);
        Tensor cg = cpu.zeros(rows, cols);
        cpu.geluForward(cg, cout);
        cpu.accumulate(cg, cx);
        Tensor gx = gpu.activations(rows, cols);
        gpu.upload(gx, x);
        Tensor gout = gpu.activations(rows, cols);
        gpu.layerNormForward(gout, gpu.zeros(rows), gpu.zeros(rows), gx, gpu.fromHost(w, cols),
                gpu.fromHost(bias, cols), rows, cols, 1e-5f);
        Tensor gg = gpu.activations(rows, cols);
        gpu.geluForward(gg, gout);
        gpu.accumulate(gg, gx);
        TensorCoreAttentionTest.assertBf16Close("ln → gelu → residual", cpu.toHost(cg), gpu.toHost(gg));
        assertTrue(gpu.sumOfSquares(gg) > 0 && !gpu.hasNonFinite(gg));
    }
}
