package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every CUDA kernel against the CPU backend (the reference) on random inputs, forward and backward, with exact fp32
 * GEMMs: |gpu − cpu| ≤ 1e-4 · max(1, |cpu|). Skipped where there is no CUDA device (CI); run on the GPU machine by
 * {@code gpu/run-gpu-tests.sh}.
 */
class CudaBackendTest {

    private static final double TOL = 1e-4;
    private static CudaBackend gpu;
    private static final CpuBackend cpu = new CpuBackend();

    @BeforeAll
    static void open() {
        assumeTrue(Cuda.available(), Cuda::unavailableReason);
        gpu = new CudaBackend(0, GemmPrecision.FP32);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    static float[] randn(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    static int[] ids(Random r, int n, int bound) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(bound);
        }
        return a;
    }

    /**
     * Runs {@code op} on both backends over 1-D tensors holding copies of {@code inputs}, then compares the tensors
     * at {@code outputs} (inputs too, so accumulate-into semantics are checked).
     */
    static void compare(String name, double tol, float[][] inputs, int[] outputs, BiConsumer<Backend, Tensor[]> op) {
        Tensor[] c = new Tensor[inputs.length];
        Tensor[] g = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            c[i] = cpu.fromHost(inputs[i], inputs[i].length);
            g[i] = gpu.fromHost(inputs[i], inputs[i].length);
        }
        op.accept(cpu, c);
        op.accept(gpu, g);
        for (int o : outputs) {
            assertClose(name + " output " + o, cpu.toHost(c[o]), gpu.toHost(g[o]), tol);
        }
    }

    static void assertClose(String what, float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length, what + " length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs((double) got[i] - want[i]) / Math.max(1.0, Math.abs(want[i]));
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        if (!(worst <= tol)) {
            fail(what + ": worst error " + worst + " at " + at + " (gpu " + got[at] + ", cpu " + want[at] + ")");
        }
    }

    @ParameterizedTest
    @CsvSource({"false,false", "true,false", "false,true", "true,true"})
    void matmulAllTransposes(boolean ta, boolean tb) {
        Random r = new Random(1);
        int m = 37, n = 53, k = 70;
        compare("matmul " + ta + tb, TOL, new float[][] {randn(r, m * n, 1), randn(r, m * k, 1), randn(r, k * n, 1)},
                new int[] {0}, (be, t) -> be.matmul(t[0], t[1], ta, t[2], tb, m, n, k, 0.7f, 0.3f));
    }

    @Test
    void stridedBatchedMatmul() {
        Random r = new Random(2);
        int m = 9, n = 11, k = 13, batch = 5;
        compare("batched", TOL, new float[][] {randn(r, batch * m * n + 3, 1), randn(r, batch * m * k, 1),
                randn(r, batch * k * n, 1)}, new int[] {0},
                (be, t) -> be.matmulStridedBatched(t[0], t[1], true, t[2], false, m, n, k, 1f, 0f, batch, m * k,
                        k * n, m * n + 0));
    }

    @Test
    void bf16CastIsExact() {
        float[] x = {1f, 1.00390625f, 1.01171875f, -3.3333f, Float.NaN, Float.POSITIVE_INFINITY, 1e-40f, 65504.7f};
        Tensor g = gpu.fromHost(x, x.length);
        Tensor out = gpu.zeros(x.length);
        gpu.castToBf16(out, g);
        Tensor c = cpu.fromHost(x, x.length);
        Tensor co = cpu.zeros(x.length);
        cpu.castToBf16(co, c);
        float[] want = cpu.toHost(co);
        float[] got = gpu.toHost(out);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), "element " + i);
        }
    }

    @Test
    void elementwiseAndReductions() {
        Random r = new Random(3);
        int rows = 150, cols = 70;
        float[] a = randn(r, rows * cols, 1);
        float[] b = randn(r, rows * cols, 1);
        float[] bias = randn(r, cols, 1);
        compare("add", TOL, new float[][] {new float[a.length], a, b}, new int[] {0}, (be, t) -> be.add(t[0], t[1], t[2]));
        compare("accumulate", TOL, new float[][] {a.clone(), b}, new int[] {0}, (be, t) -> be.accumulate(t[0], t[1]));
        int n8 = 64 * cols; // a multiple of 8: add_vec
        compare("add, 16-byte accesses", TOL, new float[][] {new float[n8], java.util.Arrays.copyOf(a, n8),
                java.util.Arrays.copyOf(b, n8)}, new int[] {0}, (be, t) -> be.add(t[0], t[1], t[2]));
        compare("scale range", TOL, new float[][] {a.clone()}, new int[] {0}, (be, t) -> be.scale(t[0], 17, 900, 0.3f));
        compare("addBias", TOL, new float[][] {a.clone(), bias}, new int[] {0},
                (be, t) -> be.addBias(t[0], t[1], rows, cols));
        compare("biasBackward", TOL, new float[][] {bias.clone(), a}, new int[] {0},
                (be, t) -> be.biasBackward(t[0], t[1], rows, cols));
        compare("fill+copyRange", TOL, new float[][] {a.clone(), b}, new int[] {0}, (be, t) -> {
            be.fill(t[0], 2.5f);
            be.copyRange(t[0], 5, t[1], 100, 333);
        });
        Tensor g = gpu.fromHost(a, a.length);
        Tensor c = cpu.fromHost(a, a.length);
        assertEquals(cpu.sumOfSquares(c), gpu.sumOfSquares(g), 1e-9 * cpu.sumOfSquares(c));
        assertEquals(cpu.sumOfSquares(c, 33, 4000), gpu.sumOfSquares(g, 33, 4000), 1e-9 * cpu.sumOfSquares(c));
        Tensor h = gpu.fromHost(b, b.length);
        double[] each = {gpu.sumOfSquares(g), gpu.sumOfSquares(h)};
        double[] batched = gpu.sumsOfSquares(java.util.List.of(g, h));
        assertEquals(each[0], batched[0], 0.0, "one wait for many tensors, the same sums");
        assertEquals(each[1], batched[1], 0.0);
        double[] ranged = gpu.sumsOfSquares(java.util.List.of(g, h), new long[] {33, 7}, new long[] {4000, 100});
        assertEquals(gpu.sumOfSquares(g, 33, 4000), ranged[0], 0.0);
        assertEquals(gpu.sumOfSquares(h, 7, 100), ranged[1], 0.0);
        // the device's float pair of the ranges' total: Collectives.pair of the host's in-order sum, to the bit
        Tensor pair = gpu.zeros(2);
        gpu.sumOfSquaresAsPair(java.util.List.of(g, h, g), new long[] {33, 7, 0}, new long[] {4000, 100, 5},
                pair);
        double[] three = gpu.sumsOfSquares(java.util.List.of(g, h, g), new long[] {33, 7, 0},
                new long[] {4000, 100, 5});
        assertArrayEquals(dev.lattice.parallel.comm.Collectives.pair(three[0] + three[1] + three[2]),
                gpu.toHost(pair), 0f);
        assertFalse(gpu.hasNonFinite(g));
        float[] bad = a.clone();
        bad[777] = Float.NaN;
        assertTrue(gpu.hasNonFinite(gpu.fromHost(bad, bad.length)));
        bad[777] = Float.NEGATIVE_INFINITY;
        assertTrue(gpu.hasNonFinite(gpu.fromHost(bad, bad.length)));
    }

    @Test
    void embeddings() {
        Random r = new Random(4);
        int b = 3, t = 41, c = 24, vocab = 50;
        int n = b * t;
        int[] tokens = ids(r, n, 12); // repeats, so rows of one token are summed
        float[] wte = randn(r, vocab * c, 1);
        float[] wpe = randn(r, t * c, 1);
        float[] dout = randn(r, n * c, 1);
        compare("embedding forward", TOL, new float[][] {new float[n * c], wte, wpe}, new int[] {0},
                (be, x) -> be.embeddingForward(x[0], tokens, x[1], x[2], b, t, c));
        compare("embedding forward without positions", TOL, new float[][] {new float[n * c], wte}, new int[] {0},
                (be, x) -> be.embeddingForward(x[0], tokens, x[1], null, b, t, c));
        compare("embedding backward", TOL, new float[][] {randn(r, vocab * c, 1), randn(r, t * c, 1), dout},
                new int[] {0, 1}, (be, x) -> be.embeddingBackward(x[0], x[1], x[2], tokens, b, t, c));
        int start = 5, count = 4;
        compare("vocab-parallel embedding", TOL, new float[][] {randn(r, n * c, 1), randn(r, count * c, 1)},
                new int[] {0}, (be, x) -> be.vocabParallelEmbedding(x[0], tokens, x[1], start, count, n, c));
        compare("vocab-parallel embedding backward", TOL, new float[][] {randn(r, count * c, 1), dout},
                new int[] {0}, (be, x) -> be.vocabParallelEmbeddingBackward(x[0], x[1], tokens, start, count, n, c));
        compare("positions", TOL, new float[][] {randn(r, n * c, 1), wpe}, new int[] {0},
                (be, x) -> be.addPositionEmbedding(x[0], x[1], b, t, c));
        compare("positions backward", TOL, new float[][] {randn(r, t * c, 1), dout}, new int[] {0},
                (be, x) -> be.addPositionEmbeddingBackward(x[0], x[1], b, t, c));
        int[] wrong = tokens.clone();
        wrong[7] = vocab;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gpu.embeddingForward(gpu.zeros(n * c), wrong, gpu.zeros(vocab * c), null, b, t, c));
        assertTrue(e.getMessage().contains("row 7"), e.getMessage());
    }

    /** cols % 8 == 0: the warp-per-row kernels with 16-byte accesses; otherwise the block-per-row ones. */
    @ParameterizedTest
    @CsvSource({"130, 96", "33, 100", "9, 2048", "1000, 768", "45, 1024"})
    void norms(int rows, int cols) {
        Random r = new Random(5);
        float[] x = randn(r, rows * cols, 2);
        float[] w = randn(r, cols, 1);
        float[] bias = randn(r, cols, 1);
        float[] dout = randn(r, rows * cols, 1);
        compare("layernorm forward", TOL, new float[][] {new float[rows * cols], new float[rows], new float[rows], x,
                w, bias}, new int[] {0, 1, 2}, (be, t) -> be.layerNormForward(t[0], t[1], t[2], t[3], t[4], t[5],
                        rows, cols, 1e-5f));
        // mean/rstd from the CPU forward feed both backwards
        Tensor cm = cpu.zeros(rows);
        Tensor cr = cpu.zeros(rows);
        cpu.layerNormForward(cpu.zeros(rows * cols), cm, cr, cpu.fromHost(x, x.length), cpu.fromHost(w, cols),
                cpu.fromHost(bias, cols), rows, cols, 1e-5f);
        float[] mean = cpu.toHost(cm);
        float[] rstd = cpu.toHost(cr);
        compare("layernorm backward", TOL, new float[][] {randn(r, rows * cols, 1), randn(r, cols, 1),
                randn(r, cols, 1), dout, x, w, mean, rstd}, new int[] {0, 1, 2},
                (be, t) -> be.layerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols));
        float[] delta = randn(r, rows * cols, 1);
        compare("residual add + layernorm", TOL, new float[][] {new float[rows * cols], new float[rows * cols],
                new float[rows], new float[rows], x, delta, w, bias}, new int[] {0, 1, 2, 3},
                (be, t) -> be.addNormForward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols, 1e-5f));
        compare("residual add + rmsnorm", TOL, new float[][] {new float[rows * cols], new float[rows * cols],
                new float[rows], x, delta, w}, new int[] {0, 1, 2},
                (be, t) -> be.addNormForward(t[0], t[1], null, t[2], t[3], t[4], t[5], null, rows, cols, 1e-6f));
        compare("rmsnorm forward", TOL, new float[][] {new float[rows * cols], new float[rows], x, w},
                new int[] {0, 1}, (be, t) -> be.rmsNormForward(t[0], t[1], t[2], t[3], rows, cols, 1e-6f));
        Tensor rr = cpu.zeros(rows);
        cpu.rmsNormForward(cpu.zeros(rows * cols), rr, cpu.fromHost(x, x.length), cpu.fromHost(w, cols), rows, cols,
                1e-6f);
        compare("rmsnorm backward", TOL, new float[][] {randn(r, rows * cols, 1), randn(r, cols, 1), dout, x, w,
                cpu.toHost(rr)}, new int[] {0, 1},
                (be, t) -> be.rmsNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], rows, cols));
    }

    @Test
    void activations() {
        Random r = new Random(6);
        int rows = 77, ffn = 45;
        float[] x = randn(r, rows * 2 * ffn, 2);
        float[] dout = randn(r, rows * 2 * ffn, 1);
        compare("gelu forward", TOL, new float[][] {new float[x.length], x}, new int[] {0},
                (be, t) -> be.geluForward(t[0], t[1]));
        float[] wide = randn(r, 8 * 1000, 4); // a multiple of 8: gelu_forward_vec, tails included
        compare("gelu forward, 16-byte accesses", TOL, new float[][] {new float[wide.length], wide}, new int[] {0},
                (be, t) -> be.geluForward(t[0], t[1]));
        compare("gelu backward", TOL, new float[][] {randn(r, x.length, 1), x, dout}, new int[] {0},
                (be, t) -> be.geluBackward(t[0], t[1], t[2]));
        float[] d = randn(r, rows * ffn, 1);
        compare("swiglu forward", TOL, new float[][] {new float[rows * ffn], x}, new int[] {0},
                (be, t) -> be.swigluForward(t[0], t[1], rows, ffn));
        compare("swiglu backward", TOL, new float[][] {randn(r, x.length, 1), x, d}, new int[] {0},
                (be, t) -> be.swigluBackward(t[0], t[1], t[2], rows, ffn));
    }

    @ParameterizedTest
    @CsvSource({"2,70,4,2,16", "1,33,6,6,8", "2,130,4,1,64"})
    void ropeAndAttention(int b, int t, int heads, int groups, int d) {
        Random r = new Random(7);
        int row = (heads + 2 * groups) * d;
        float[] qkv = randn(r, b * t * row, 1);
        compare("rope forward", TOL, new float[][] {qkv.clone()}, new int[] {0},
                (be, x) -> be.ropeForward(x[0], b, t, heads, groups, d, 10000f));
        compare("rope backward", TOL, new float[][] {qkv.clone()}, new int[] {0},
                (be, x) -> be.ropeBackward(x[0], b, t, heads, groups, d, 500000f));
        int outLen = b * t * heads * d;
        compare("attention forward", TOL, new float[][] {new float[outLen], new float[b * heads * t], qkv},
                new int[] {0, 1}, (be, x) -> be.attentionForward(x[0], x[1], x[2], b, t, heads, groups, d));
        Tensor out = cpu.zeros(outLen);
        Tensor lse = cpu.zeros(b * heads * t);
        cpu.attentionForward(out, lse, cpu.fromHost(qkv, qkv.length), b, t, heads, groups, d);
        compare("attention backward", TOL, new float[][] {randn(r, qkv.length, 1), randn(r, outLen, 1), qkv,
                cpu.toHost(out), cpu.toHost(lse)}, new int[] {0},
                (be, x) -> be.attentionBackward(x[0], x[1], x[2], x[3], x[4], b, t, heads, groups, d));
    }

    /** A padded width % 8 == 0 takes the one-pass vectorised kernels; 303 the two-pass ones. */
    @ParameterizedTest
    @CsvSource({"384", "303"})
    void crossEntropy(int padded) {
        Random r = new Random(8);
        int rows = 67, vocab = 301;
        float[] logits = randn(r, rows * padded, 3);
        int[] targets = ids(r, rows, vocab);
        float[] dl = randn(r, rows, 0.1);
        dl[4] = 0f;
        compare("cross-entropy forward", TOL, new float[][] {new float[rows], new float[rows], logits},
                new int[] {0, 1}, (be, t) -> be.crossEntropyForward(t[0], t[1], t[2], targets, rows, vocab, padded));
        Tensor lse = cpu.zeros(rows);
        cpu.crossEntropyForward(cpu.zeros(rows), lse, cpu.fromHost(logits, logits.length), targets, rows, vocab,
                padded);
        compare("cross-entropy backward", TOL, new float[][] {randn(r, logits.length, 1), logits, cpu.toHost(lse)},
                new int[] {0}, (be, t) -> be.crossEntropyBackward(t[0], t[1], t[2], targets, dl, rows, vocab, padded));
        compare("cross-entropy forward and backward in one pass", TOL, new float[][] {new float[rows],
                new float[rows], logits}, new int[] {0, 1, 2},
                (be, t) -> be.crossEntropyForwardBackward(t[0], t[1], t[2], targets, dl, rows, vocab, padded));
        // and exactly the two kernels' values on the GPU
        Tensor[] fused = {gpu.zeros(rows), gpu.zeros(rows), gpu.fromHost(logits, logits.length)};
        Tensor[] apart = {gpu.zeros(rows), gpu.zeros(rows), gpu.fromHost(logits, logits.length)};
        gpu.crossEntropyForwardBackward(fused[0], fused[1], fused[2], targets, dl, rows, vocab, padded);
        gpu.crossEntropyForward(apart[0], apart[1], apart[2], targets, rows, vocab, padded);
        gpu.crossEntropyBackward(apart[2], apart[2], apart[1], targets, dl, rows, vocab, padded);
        for (int i = 0; i < 3; i++) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(gpu.toHost(apart[i]), gpu.toHost(fused[i]),
                    "fused vs two kernels, output " + i);
        }
        int start = 100, cols = 128, valid = 120;
        float[] shard = randn(r, rows * cols, 3);
        compare("row max", TOL, new float[][] {new float[rows], shard}, new int[] {0},
                (be, t) -> be.logitsRowMax(t[0], t[1], rows, cols, valid));
        float[] max = new float[rows];
        for (int i = 0; i < rows; i++) {
            max[i] = 4f;
        }
        compare("row sum exp", TOL, new float[][] {new float[rows], shard, max}, new int[] {0},
                (be, t) -> be.logitsRowSumExp(t[0], t[1], t[2], rows, cols, valid));
        compare("target logit", TOL, new float[][] {randn(r, rows, 1), shard}, new int[] {0},
                (be, t) -> be.logitsTarget(t[0], t[1], targets, start, rows, cols, valid));
        float[] globalLse = randn(r, rows, 1);
        for (int i = 0; i < rows; i++) {
            globalLse[i] += 8f;
        }
        compare("vocab-parallel CE backward", TOL, new float[][] {randn(r, rows * cols, 1), shard, globalLse},
                new int[] {0}, (be, t) -> be.vocabParallelCrossEntropyBackward(t[0], t[1], t[2], targets, dl, start,
                        rows, cols, valid));
    }

    @Test
    void adamW() {
        Random r = new Random(9);
        int n = 5000;
        float[] v = randn(r, n, 1);
        for (int i = 0; i < n; i++) {
            v[i] = Math.abs(v[i]);
        }
        compare("adamw", 1e-5, new float[][] {randn(r, n, 1), randn(r, n, 1), randn(r, n, 0.1), v}, new int[] {0, 2, 3},
                (be, t) -> be.adamW(t[0], t[1], t[2], t[3], 3e-4, 0.9, 0.95, 1e-8, 0.1, 7));
        compare("adamw range", 1e-5, new float[][] {randn(r, n, 1), randn(r, n, 1), randn(r, n, 0.1), v},
                new int[] {0, 2, 3},
                (be, t) -> be.adamW(t[0], 10, t[1], 20, t[2], t[3], 30, 4000, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1));
    }

    /** AdamW's inputs, n each: parameters, gradients, first moments, second moments (non-negative). */
    private static float[][] adamWInputs(Random r, int n) {
        float[] v = randn(r, n, 1);
        for (int i = 0; i < n; i++) {
            v[i] = Math.abs(v[i]);
        }
        return new float[][] {randn(r, n, 1), randn(r, n, 1), randn(r, n, 0.1), v};
    }

    /**
     * The one-launch AdamW over many segments (offsets, different weight decays, a clip scale) against the CPU
     * backend's default (scale then AdamW per segment), and against the GPU's own per-segment kernels bit for bit.
     */
    @Test
    void adamWOverSegmentsInOneLaunch() {
        int n = 300_000;
        float[][] in = adamWInputs(new Random(11), n);
        BiConsumer<Backend, Tensor[]> multi = (be, t) -> be.adamW(java.util.List.of(
                new Backend.AdamWSegment(t[0], 0, t[1], 5, t[2], t[3], 7, 100, 0.1),
                new Backend.AdamWSegment(t[0], 200, t[1], 200, t[2], t[3], 200, 0, 0.1),
                new Backend.AdamWSegment(t[0], 1000, t[1], 1000, t[2], t[3], 1000, 250_000, 0.0),
                new Backend.AdamWSegment(t[0], 260_000, t[1], 260_100, t[2], t[3], 260_200, 33_333, 0.05)),
                0.37f, 3e-4, 0.9, 0.95, 1e-8, 4);
        compare("adamw segments", 1e-5, in, new int[] {0, 2, 3}, multi); // the gradients afterwards: unspecified
        Tensor[] a = new Tensor[4];
        Tensor[] b = new Tensor[4];
        for (int i = 0; i < 4; i++) {
            a[i] = gpu.fromHost(in[i], n);
            b[i] = gpu.fromHost(in[i], n);
        }
        multi.accept(gpu, a);
        // the same segments through the per-segment kernels (the SPI's default composition)
        for (Backend.AdamWSegment seg : java.util.List.of(
                new Backend.AdamWSegment(b[0], 0, b[1], 5, b[2], b[3], 7, 100, 0.1),
                new Backend.AdamWSegment(b[0], 1000, b[1], 1000, b[2], b[3], 1000, 250_000, 0.0),
                new Backend.AdamWSegment(b[0], 260_000, b[1], 260_100, b[2], b[3], 260_200, 33_333, 0.05))) {
            gpu.scale(seg.grad(), seg.gradOff(), seg.count(), 0.37f);
            gpu.adamW(seg.param(), seg.paramOff(), seg.grad(), seg.gradOff(), seg.m(), seg.v(), seg.stateOff(),
                    seg.count(), 3e-4, 0.9, 0.95, 1e-8, seg.weightDecay(), 4);
        }
        for (int i : new int[] {0, 2, 3}) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(gpu.toHost(b[i]), gpu.toHost(a[i]),
                    "one launch vs per-segment kernels, tensor " + i);
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(in[1], gpu.toHost(a[1]),
                "the one launch leaves the gradients unscaled");
    }

    /**
     * The one-launch AdamW keeps its table on the device for a segment list it has seen: three steps at different
     * learning rates through one list (the decay 1 − lr·wd formed on the device) give the per-segment kernels' bits,
     * also when the table is made again after an address change.
     */
    @Test
    void adamWKeepsItsTableAcrossSteps() {
        int n = 50_000;
        float[][] in = adamWInputs(new Random(13), n);
        Tensor[] a = new Tensor[4];
        Tensor[] b = new Tensor[4];
        for (int i = 0; i < 4; i++) {
            a[i] = gpu.fromHost(in[i], n);
            b[i] = gpu.fromHost(in[i], n);
        }
        java.util.List<Backend.AdamWSegment> list = java.util.List.of(
                new Backend.AdamWSegment(a[0], 0, a[1], 0, a[2], a[3], 0, 30_000, 0.1),
                new Backend.AdamWSegment(a[0], 30_000, a[1], 30_000, a[2], a[3], 30_000, 20_000, 0.0));
        double[] lrs = {3e-4, 1e-4, 2e-5};
        for (int step = 1; step <= lrs.length; step++) {
            if (step == 3) {
                CudaTensor.addressesChanged(); // as a placement would: the table is made again
            }
            gpu.adamW(list, 1f, lrs[step - 1], 0.9, 0.95, 1e-8, step);
            gpu.adamW(b[0], 0, b[1], 0, b[2], b[3], 0, 30_000, lrs[step - 1], 0.9, 0.95, 1e-8, 0.1, step);
            gpu.adamW(b[0], 30_000, b[1], 30_000, b[2], b[3], 30_000, 20_000, lrs[step - 1], 0.9, 0.95, 1e-8, 0.0,
                    step);
            for (int i : new int[] {0, 2, 3}) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(gpu.toHost(b[i]), gpu.toHost(a[i]),
                        "step " + step + ", tensor " + i);
            }
        }
    }

    /** The one-launch sums of squares give exactly the per-range kernel's sums (fp32 and bf16 ranges). */
    @Test
    void sumsOfSquaresInOneLaunchEqualOnePerRange() {
        Random r = new Random(12);
        Tensor x = gpu.fromHost(randn(r, 100_000, 1), 100_000);
        CudaBackend bf = new CudaBackend(0, GemmPrecision.BF16);
        try {
            Tensor h = bf.activations(5000);
            bf.upload(h, randn(r, 5000, 2));
            long[] offs = {0, 17, 50_000, 3};
            long[] counts = {100_000, 1000, 50_000, 0};
            double[] together = gpu.sumsOfSquares(java.util.List.of(x, x, x, x), offs, counts);
            for (int i = 0; i < offs.length; i++) {
                assertEquals(gpu.sumOfSquares(x, offs[i], counts[i]), together[i], 0.0, "range " + i);
            }
            Tensor onCpu = cpu.fromHost(gpu.toHost(x), 100_000);
            double[] cpuSums = cpu.sumsOfSquares(java.util.List.of(onCpu, onCpu, onCpu, onCpu), offs, counts);
            assertEquals(cpuSums[1], together[1], 1e-9 * cpuSums[1]);
            double[] half = bf.sumsOfSquares(java.util.List.of(h, h), new long[] {0, 10}, new long[] {5000, 20});
            float[] hv = bf.toHost(h);
            double want = 0;
            for (float f : hv) {
                want += (double) f * f;
            }
            assertEquals(want, half[0], 1e-9 * want);
        } finally {
            bf.close();
        }
    }

    @Test
    void cachingAllocatorReusesBlocks() {
        gpu.synchronize();
        for (int i = 0; i < 3; i++) {
            gpu.zeros(1000, 1000);
        }
        System.gc();
        long before = gpu.mallocCalls();
        for (int round = 0; round < 20; round++) {
            Tensor t = gpu.zeros(1000, 1000);
            gpu.fill(t, round);
            t = null;
            System.gc();
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        assertTrue(gpu.mallocCalls() - before <= 3, "cudaMalloc calls in a steady loop: " + (gpu.mallocCalls() - before));
    }

    /** copyRanges and fillZeros (one launch each) leave exactly what copyRange and fill leave, in any storage. */
    @Test
    void copiesAndZeroFillsInOneLaunch() {
        Random r = new Random(21);
        Tensor a = gpu.fromHost(randn(r, 5000, 1), 5000);
        Tensor h = gpu.activations(3000);
        gpu.upload(h, randn(r, 3000, 1));
        Tensor[] one = {gpu.fromHost(randn(r, 6000, 1), 6000), gpu.activations(4000)};
        Tensor[] each = {gpu.fromHost(gpu.toHost(one[0]), 6000), gpu.activations(4000)};
        gpu.copy(each[1], one[1]);
        java.util.function.Function<Tensor[], java.util.List<Backend.RangeCopy>> copies = d -> java.util.List.of(
                new Backend.RangeCopy(d[0], 0, a, 0, 4998), // fp32 -> fp32, 16-byte aligned, a tail of 2
                new Backend.RangeCopy(d[0], 4998, a, 3, 2), // fp32 -> fp32, not aligned
                new Backend.RangeCopy(d[0], 5000, h, 17, 1000), // bf16 -> fp32
                new Backend.RangeCopy(d[1], 3, a, 100, 2500), // fp32 -> bf16 (rounds)
                new Backend.RangeCopy(d[1], 2600, h, 0, 1397), // bf16 -> bf16, aligned, a tail of 5
                new Backend.RangeCopy(d[1], 3997, h, 1, 3), // bf16 -> bf16, not aligned
                new Backend.RangeCopy(d[1], 0, h, 0, 0));
        gpu.copyRanges(copies.apply(one));
        for (Backend.RangeCopy c : copies.apply(each)) {
            gpu.copyRange(c.dst(), c.dstOff(), c.src(), c.srcOff(), c.count());
        }
        for (int i = 0; i < 2; i++) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(gpu.toHost(each[i]), gpu.toHost(one[i]),
                    "tensor " + i);
        }
        Tensor odd = gpu.fromHost(randn(r, 4003, 1), 4003);
        gpu.fillZeros(java.util.List.of(one[0], one[1], a, odd));
        for (Tensor t : new Tensor[] {one[0], one[1], a, odd}) {
            for (float v : gpu.toHost(t)) {
                assertEquals(0f, v, 0f);
            }
        }
        org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class,
                () -> gpu.copyRanges(java.util.List.of(new Backend.RangeCopy(one[0], 5999, a, 0, 2))));
    }
}
