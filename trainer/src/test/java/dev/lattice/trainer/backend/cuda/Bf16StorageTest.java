package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Backend.AdamWSegment;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.Bf16;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
            assertTrue(!((CudaTensor) gpu.activations(2)).isBf16(), "fp32 activations when asked for");
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

    /**
     * LayerNorm backward over bf16 activations: the variants that keep each row in registers between the two passes
     * (cached, cached2) give the one-pass kernel's results bit for bit, and all of them match the CPU reference on the
     * same (rounded) inputs. Rows not a multiple of a block's 32; widths below, at and between the lanes' strides.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {64, 768, 1000, 1024})
    void layerNormBackwardVariantsAgreeBitForBit(int cols) {
        Random r = new Random(cols);
        int rows = 75;
        float[] x = roundAll(CudaBackendTest.randn(r, rows * cols, 2));
        float[] dout = roundAll(CudaBackendTest.randn(r, rows * cols, 1));
        float[] dinp0 = roundAll(CudaBackendTest.randn(r, rows * cols, 1));
        float[] w = CudaBackendTest.randn(r, cols, 1);
        float[] b = CudaBackendTest.randn(r, cols, 1);
        Tensor cmean = cpu.zeros(rows);
        Tensor crstd = cpu.zeros(rows);
        cpu.layerNormForward(cpu.zeros(rows, cols), cmean, crstd, cpu.fromHost(x, rows, cols), cpu.fromHost(w, cols),
                cpu.fromHost(b, cols), rows, cols, 1e-5f);
        Tensor cdinp = cpu.fromHost(dinp0.clone(), rows, cols);
        Tensor cdw = cpu.zeros(cols);
        Tensor cdb = cpu.zeros(cols);
        cpu.layerNormBackward(cdinp, cdw, cdb, cpu.fromHost(dout, rows, cols), cpu.fromHost(x, rows, cols),
                cpu.fromHost(w, cols), cmean, crstd, rows, cols);
        String before = CudaBackend.layerNormBackwardVariant;
        float[][] fused = null;
        try {
            for (String variant : new String[] {"fused", "cached", "cached2"}) {
                CudaBackend.layerNormBackwardVariant = variant;
                Tensor gx = gpu.activations(rows, cols);
                gpu.upload(gx, x);
                Tensor gdout = gpu.activations(rows, cols);
                gpu.upload(gdout, dout);
                Tensor gdinp = gpu.activations(rows, cols);
                gpu.upload(gdinp, dinp0);
                Tensor gdw = gpu.zeros(cols);
                Tensor gdb = gpu.zeros(cols);
                gpu.layerNormBackward(gdinp, gdw, gdb, gdout, gx, gpu.fromHost(w, cols), gpu.fromHost(cpu.toHost(cmean),
                        rows), gpu.fromHost(cpu.toHost(crstd), rows), rows, cols);
                float[][] got = {gpu.toHost(gdinp), gpu.toHost(gdw), gpu.toHost(gdb)};
                TensorCoreAttentionTest.assertBf16Close(variant + " dinp", cpu.toHost(cdinp), got[0]);
                TensorCoreAttentionTest.assertBf16Close(variant + " dweight", cpu.toHost(cdw), got[1]);
                TensorCoreAttentionTest.assertBf16Close(variant + " dbias", cpu.toHost(cdb), got[2]);
                if (fused == null) {
                    fused = got;
                } else {
                    for (int i = 0; i < 3; i++) {
                        assertArrayEquals(fused[i], got[i], 0f, variant + " against fused, output " + i);
                    }
                }
            }
        } finally {
            CudaBackend.layerNormBackwardVariant = before;
        }
    }

    /**
     * The residual add with the norm after it: the variant that keeps the row in registers (cached: 4 or 8 chunks of
     * 8 a lane) gives the read-back kernel's results bit for bit, LayerNorm and RMSNorm, bf16 and fp32 storage, at
     * widths below, at and between its chunk bounds, and both match the CPU reference (add, then the norm).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"64, true, true", "768, true, true", "1000, false, true",
            "1024, true, false", "1536, true, true", "2048, false, false", "2048, true, true", "4096, true, true"})
    void addNormVariantsAgreeBitForBit(int cols, boolean layer, boolean bf16) {
        Random r = new Random(cols + (layer ? 1 : 0));
        int rows = 21;
        float[] x = CudaBackendTest.randn(r, rows * cols, 1);
        float[] delta = CudaBackendTest.randn(r, rows * cols, 1);
        float[] w = CudaBackendTest.randn(r, cols, 1);
        float[] b = layer ? CudaBackendTest.randn(r, cols, 1) : null;
        String before = CudaBackend.addNormVariant;
        float[][] warp = null;
        try {
            for (String variant : new String[] {"warp", "cached"}) {
                CudaBackend.addNormVariant = variant;
                Tensor gx = bf16 ? gpu.activations(rows, cols) : gpu.zeros(rows, cols);
                gpu.upload(gx, x);
                Tensor gd = bf16 ? gpu.activations(rows, cols) : gpu.zeros(rows, cols);
                gpu.upload(gd, delta);
                Tensor resid = bf16 ? gpu.activations(rows, cols) : gpu.zeros(rows, cols);
                Tensor out = bf16 ? gpu.activations(rows, cols) : gpu.zeros(rows, cols);
                Tensor mean = gpu.zeros(rows);
                Tensor rstd = gpu.zeros(rows);
                gpu.addNormForward(resid, out, mean, rstd, gx, gd, gpu.fromHost(w, cols),
                        layer ? gpu.fromHost(b, cols) : null, rows, cols, 1e-5f);
                float[][] got = {gpu.toHost(resid), gpu.toHost(out), gpu.toHost(mean), gpu.toHost(rstd)};
                // the CPU reference on the values the GPU stored (x and delta as the GPU holds them)
                Tensor cx = cpu.fromHost(gpu.toHost(gx), rows, cols);
                cpu.accumulate(cx, cpu.fromHost(gpu.toHost(gd), rows, cols));
                Tensor cout = cpu.zeros(rows, cols);
                if (layer) {
                    cpu.layerNormForward(cout, cpu.zeros(rows), cpu.zeros(rows), cx, cpu.fromHost(w, cols),
                            cpu.fromHost(b, cols), rows, cols, 1e-5f);
                } else {
                    cpu.rmsNormForward(cout, cpu.zeros(rows), cx, cpu.fromHost(w, cols), rows, cols, 1e-5f);
                }
                TensorCoreAttentionTest.assertBf16Close(variant + " resid", cpu.toHost(cx), got[0]);
                TensorCoreAttentionTest.assertBf16Close(variant + " out", cpu.toHost(cout), got[1]);
                if (warp == null) {
                    warp = got;
                } else {
                    for (int i = 0; i < got.length; i++) {
                        assertArrayEquals(warp[i], got[i], 0f, variant + " against warp, output " + i);
                    }
                }
            }
        } finally {
            CudaBackend.addNormVariant = before;
        }
    }

    private static float[] roundAll(float[] a) {
        for (int i = 0; i < a.length; i++) {
            a[i] = Bf16.round(a[i]);
        }
        return a;
    }

    /**
     * A weight that keeps its bf16 rounding between products (keepBf16Copies) multiplies exactly as a twin that is
     * rounded into scratch for every product, after each way the backend can write it: the kept copy goes stale on
     * every write, and the one-launch AdamW over the whole weight rewrites it in the same pass.
     */
    @Test
    void keptBf16CopiesFollowEveryWrite() {
        Random r = new Random(5);
        int m = 32, n = 48, k = 64;
        Tensor x = gpu.activations(m, k);
        gpu.upload(x, CudaBackendTest.randn(r, m * k, 1));
        float[] w0 = CudaBackendTest.randn(r, n * k, 1);
        Tensor kept = gpu.fromHost(w0, n, k);
        Tensor twin = gpu.fromHost(w0, n, k);
        gpu.keepBf16Copies(java.util.List.of(kept));
        Tensor other = gpu.fromHost(CudaBackendTest.randn(r, n * k, 1), n, k);
        float[] g0 = CudaBackendTest.randn(r, n * k, 1e-2f);
        Tensor grad = gpu.fromHost(g0, n, k);
        // the one-launch AdamW writes the clipped gradient back: each weight steps on its own copy
        Tensor[] grads = {gpu.fromHost(g0, n, k), gpu.fromHost(g0, n, k)};
        Tensor bias = gpu.fromHost(CudaBackendTest.randn(r, n, 1), n);
        Tensor[] mv = {gpu.zeros(n * k), gpu.zeros(n * k), gpu.zeros(n * k), gpu.zeros(n * k)};
        java.util.function.Consumer<Tensor> noWrite = w -> { };
        java.util.Map<String, java.util.function.Consumer<Tensor>> writes = new java.util.LinkedHashMap<>();
        writes.put("first product", noWrite);
        writes.put("second product", noWrite);
        writes.put("upload", w -> gpu.upload(w, CudaBackendTest.randn(new Random(7), n * k, 1)));
        writes.put("fill", w -> gpu.fill(w, 0.25f));
        writes.put("copy", w -> gpu.copy(w, other));
        writes.put("copyRange", w -> gpu.copyRange(w, 100, grad, 3, 500));
        writes.put("scale", w -> gpu.scale(w, 1.5f));
        writes.put("scale range", w -> gpu.scale(w, 7, 300, -2f));
        writes.put("add", w -> gpu.add(w, w, other));
        writes.put("accumulate", w -> gpu.accumulate(w, grad));
        writes.put("adamW", w -> gpu.adamW(w, grad, mv[w == kept ? 0 : 2], mv[w == kept ? 1 : 3], 1e-2, 0.9, 0.95,
                1e-8, 0.1, 1));
        writes.put("adamW, one launch, whole weight", w -> gpu.adamW(java.util.List.of(new AdamWSegment(w, 0,
                grads[w == kept ? 0 : 1], 0, mv[w == kept ? 0 : 2], mv[w == kept ? 1 : 3], 0, n * k, 0.1)), 0.5f,
                1e-2, 0.9, 0.95, 1e-8, 2));
        writes.put("adamW, one launch, a shard", w -> gpu.adamW(java.util.List.of(new AdamWSegment(w, 64,
                grads[w == kept ? 0 : 1], 64, mv[w == kept ? 0 : 2], mv[w == kept ? 1 : 3], 64, 1000, 0.1)), 1f,
                1e-2, 0.9, 0.95, 1e-8, 3));
        for (var e : writes.entrySet()) {
            e.getValue().accept(kept);
            e.getValue().accept(twin);
            assertEquals(java.util.Arrays.toString(gpu.toHost(twin)), java.util.Arrays.toString(gpu.toHost(kept)),
                    e.getKey() + ": the fp32 weights");
            Tensor a = gpu.zeros(m, n);
            Tensor b = gpu.zeros(m, n);
            gpu.matmul(a, x, false, kept, true, m, n, k, 1f, 0f);
            gpu.matmul(b, x, false, twin, true, m, n, k, 1f, 0f);
            assertEquals(java.util.Arrays.toString(gpu.toHost(b)), java.util.Arrays.toString(gpu.toHost(a)),
                    e.getKey() + ": matmul");
            Tensor la = gpu.activations(m, n);
            Tensor lb = gpu.activations(m, n);
            gpu.linearForward(la, x, kept, bias, m, n, k);
            gpu.linearForward(lb, x, twin, bias, m, n, k);
            assertEquals(java.util.Arrays.toString(gpu.toHost(lb)), java.util.Arrays.toString(gpu.toHost(la)),
                    e.getKey() + ": linearForward");
        }
        CudaTensor.RoundedCopy rounded = ((CudaTensor) kept).rounded();
        assertTrue(rounded.address != 0 && rounded.fresh, "the kept copy is made and in use");
        assertEquals(0, ((CudaTensor) twin).rounded().address, "a weight not kept is rounded into scratch");
        gpu.adamW(java.util.List.of(new AdamWSegment(kept, 0, grads[0], 0, mv[0], mv[1], 0, n * k, 0.1)), 1f, 1e-2,
                0.9, 0.95, 1e-8, 4);
        assertTrue(rounded.fresh, "AdamW over the whole weight writes its rounding");
    }

    /**
     * placeInto (Megatron's contiguous buffers): a placed tensor keeps its values and from then on shares storage
     * with the flat buffer both ways; an offset that breaks 256-byte alignment is not placed; a write into the flat
     * buffer outside the backend (a collective) followed by writtenOutside makes products see the new weight.
     */
    @Test
    void placedTensorsShareTheFlatBuffer() {
        Random r = new Random(11);
        int m = 16, n = 64, k = 32;
        float[] w0 = CudaBackendTest.randn(r, n * k, 1);
        float[] v0 = CudaBackendTest.randn(r, 100, 1);
        Tensor weight = gpu.fromHost(w0, n, k);
        gpu.keepBf16Copies(java.util.List.of(weight));
        Tensor misaligned = gpu.fromHost(v0, 100);
        Tensor flat = gpu.zeros(64 + n * k + 200);
        boolean[] placed = gpu.placeInto(flat, java.util.List.of(weight, misaligned), new long[] {64, 64 + n * k + 3});
        assertTrue(placed[0], "offset 64 floats = 256 bytes: placed");
        assertFalse(placed[1], "offset not a multiple of 64 floats: left where it is");
        float[] f = gpu.toHost(flat);
        assertArrayEquals(w0, java.util.Arrays.copyOfRange(f, 64, 64 + n * k), "values moved into the flat buffer");
        assertArrayEquals(w0, gpu.toHost(weight), "and read back through the tensor");
        assertArrayEquals(v0, gpu.toHost(misaligned));
        assertEquals(0f, f[64 + n * k + 3], "the unplaced tensor was not copied");
        // a write through the tensor shows in the flat buffer
        gpu.scale(weight, 2f);
        assertEquals(2 * w0[5], gpu.toHost(flat)[64 + 5]);
        // a product, then a write into the flat buffer behind the backend's back (as NCCL's all-gather does): with
        // writtenOutside the next product reads the new values, not the stale kept rounding
        Tensor x = gpu.activations(m, k);
        gpu.upload(x, CudaBackendTest.randn(r, m * k, 1));
        Tensor before = gpu.zeros(m, n);
        gpu.matmul(before, x, false, weight, true, m, n, k, 1f, 0f);
        float[] w1 = CudaBackendTest.randn(r, n * k, 1);
        Tensor source = gpu.fromHost(w1, n * k);
        copyBehindTheBackend(flat, 64, source, n * k);
        gpu.writtenOutside(java.util.List.of(weight));
        Tensor after = gpu.zeros(m, n);
        gpu.matmul(after, x, false, weight, true, m, n, k, 1f, 0f);
        Tensor expected = gpu.zeros(m, n);
        gpu.matmul(expected, x, false, gpu.fromHost(w1, n, k), true, m, n, k, 1f, 0f);
        assertArrayEquals(gpu.toHost(expected), gpu.toHost(after), "the product sees the weight written outside");
        assertFalse(java.util.Arrays.equals(gpu.toHost(before), gpu.toHost(after)));
    }

    /** A device-to-device copy on the backend's stream that does not go through the backend (no staleness marks). */
    private static void copyBehindTheBackend(Tensor dst, long dstOff, Tensor src, long count) {
        CudaTensor d = (CudaTensor) dst;
        CudaTensor s = (CudaTensor) src;
        Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpyAsync(DevicePointers.at(d.addressOf(dstOff)),
                DevicePointers.at(s.address()), 4 * count, org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice,
                gpu.stream()), "cudaMemcpyAsync");
    }

    /**
     * The loss and its gradient in one pass over bf16 logits (cross_entropy_fused_vec) against
     * the CPU reference on the same bf16 values: losses and log-sum-exps within 1e-5 relative, the gradient within one
     * bf16 rounding; GPT-2's padded vocabulary, a small one and a wide one, a row of weight 0.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"50257, 50304", "301, 384", "65600, 65600"})
    void crossEntropyOverBf16LogitsInOnePass(int vocab, int padded) {
        Random r = new Random(21);
        int rows = 37;
        float[] x = CudaBackendTest.randn(r, rows * padded, 3);
        for (int i = 0; i < x.length; i++) {
            x[i] = Bf16.round(x[i]);
        }
        int[] targets = new int[rows];
        float[] w = new float[rows];
        for (int i = 0; i < rows; i++) {
            targets[i] = r.nextInt(vocab);
            w[i] = (float) (r.nextGaussian() * 0.1);
        }
        w[5] = 0f;
        Tensor logits = gpu.activations(rows, padded);
        gpu.upload(logits, x);
        Tensor losses = gpu.zeros(rows);
        Tensor lse = gpu.zeros(rows);
        gpu.crossEntropyForwardBackward(losses, lse, logits, targets, w, rows, vocab, padded);
        Tensor cLogits = cpu.fromHost(x, rows * padded);
        Tensor cLosses = cpu.zeros(rows);
        Tensor cLse = cpu.zeros(rows);
        cpu.crossEntropyForwardBackward(cLosses, cLse, cLogits, targets, w, rows, vocab, padded);
        float[][] pairs = {gpu.toHost(losses), cpu.toHost(cLosses), gpu.toHost(lse), cpu.toHost(cLse)};
        for (int k = 0; k < 4; k += 2) {
            for (int i = 0; i < rows; i++) {
                assertEquals(pairs[k + 1][i], pairs[k][i], 1e-5 * Math.max(1, Math.abs(pairs[k + 1][i])),
                        (k == 0 ? "loss" : "lse") + " of row " + i);
            }
        }
        float[] g = gpu.toHost(logits);
        float[] want = cpu.toHost(cLogits);
        for (int i = 0; i < g.length; i++) {
            // one bf16 rounding of the reference, plus the fast exponential's few fp32 ulps before it
            double tol = Math.abs(want[i]) * (1.0 / 256) + 1e-9;
            if (Math.abs(g[i] - want[i]) > tol) {
                throw new AssertionError("gradient element " + i + " (row " + i / padded + ", column " + i % padded
                        + "): " + g[i] + " vs " + want[i]);
            }
        }
    }
}
