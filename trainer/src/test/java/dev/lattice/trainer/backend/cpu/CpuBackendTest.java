package dev.lattice.trainer.backend.cpu;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CPU backend's own operations (the layer kernels have their tests) against plain loops. */
class CpuBackendTest {

    private final Backend be = new CpuBackend();

    private static float[] random(int n, Random r) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** op(x)[i][j] for a row-major matrix stored rows × cols (transposed when trans). */
    private static double at(float[] x, int off, boolean trans, int i, int j, int rows, int cols) {
        return trans ? x[off + j * cols + i] : x[off + i * cols + j];
    }

    @Test
    void matmulAllTransposesMatchLoops() {
        Random r = new Random(1);
        int m = 5;
        int n = 7;
        int k = 3;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = random(m * k, r);
                float[] b = random(k * n, r);
                float[] c = random(m * n, r);
                Tensor tc = be.fromHost(c, m, n);
                be.matmul(tc, be.fromHost(a, ta ? k : m, ta ? m : k), ta, be.fromHost(b, tb ? n : k, tb ? k : n), tb,
                        m, n, k, 2f, 0.5f);
                float[] got = be.toHost(tc);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int p = 0; p < k; p++) {
                            s += at(a, 0, ta, i, p, ta ? k : m, ta ? m : k) * at(b, 0, tb, p, j, tb ? n : k, tb ? k : n);
                        }
                        assertEquals(2 * s + 0.5 * c[i * n + j], got[i * n + j], 1e-4, ta + "," + tb);
                    }
                }
            }
        }
    }

    @Test
    void stridedBatchedMatmulMatchesLoops() {
        Random r = new Random(2);
        int batch = 3;
        int m = 4;
        int n = 2;
        int k = 5;
        long sa = m * k + 3;
        long sb = k * n;
        long sc = m * n + 1;
        float[] a = random((int) (batch * sa), r);
        float[] b = random((int) (batch * sb), r);
        float[] c = new float[(int) (batch * sc)];
        Tensor tc = be.fromHost(c, c.length);
        be.matmulStridedBatched(tc, be.fromHost(a, a.length), false, be.fromHost(b, b.length), true, m, n, k, 1f, 0f,
                batch, sa, sb, sc);
        float[] got = be.toHost(tc);
        for (int bi = 0; bi < batch; bi++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += a[(int) (bi * sa) + i * k + p] * b[(int) (bi * sb) + j * k + p];
                    }
                    assertEquals(s, got[(int) (bi * sc) + i * n + j], 1e-4);
                }
            }
            assertEquals(0f, got[(int) (bi * sc) + m * n], "gaps between matrices are untouched");
        }
        assertThrows(IllegalArgumentException.class, () -> be.matmulStridedBatched(tc, be.fromHost(a, a.length),
                false, be.fromHost(b, b.length), true, m, n, k, 1f, 0f, batch + 1, sa, sb, sc));
    }

    @Test
    void bf16CastRoundsToNearestEven() {
        float[] x = {1f, 1.00390625f /* 1 + 2^-8: a tie, rounds to even 1.0 */, 1.01171875f /* 1 + 3·2^-8 → up */,
                -2.5f, 3.0e38f, Float.POSITIVE_INFINITY, Float.NaN, 1.0e-40f};
        // 3e38 = 1.7632·2^127; 7 mantissa bits: 225.69/128 → 226/128 = 1.765625·2^127.
        // 1e-40 = 71362.4·2^-149 (subnormal); keeping the top 16 bits leaves multiples of 2^16·2^-149 → 2^-133.
        float[] want = {1f, 1f, 1.015625f, -2.5f, (float) (1.765625 * Math.pow(2, 127)), Float.POSITIVE_INFINITY,
                Float.NaN, (float) Math.pow(2, -133)};
        Tensor t = be.fromHost(x, x.length);
        be.castToBf16(t, t);
        float[] got = be.toHost(t);
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(want[i])) {
                assertTrue(Float.isNaN(got[i]));
            } else {
                assertEquals(want[i], got[i], Math.abs(want[i]) * 1e-4, "element " + i);
                assertEquals(0, Float.floatToRawIntBits(got[i]) & 0xFFFF, "low bits cleared for " + x[i]);
            }
        }
    }

    @Test
    void biasGradientIsTheColumnSum() {
        Random r = new Random(3);
        int rows = 37;
        int cols = 130;
        float[] g = random(rows * cols, r);
        Tensor db = be.fromHost(new float[cols], cols);
        be.fill(db, 1f);
        be.biasBackward(db, be.fromHost(g, rows, cols), rows, cols);
        float[] got = be.toHost(db);
        for (int c = 0; c < cols; c++) {
            double s = 1;
            for (int i = 0; i < rows; i++) {
                s += g[i * cols + c];
            }
            assertEquals(s, got[c], 1e-4, "column " + c + " (accumulated onto 1)");
        }
    }
}
