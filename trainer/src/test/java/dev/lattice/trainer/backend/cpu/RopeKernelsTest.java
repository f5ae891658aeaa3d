package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RopeKernelsTest {

    static final double THETA = 10000.0;

    /** Offsets of q heads, k groups and v groups in a fused row, built by walking the layout. */
    static int[][] layout(int H, int G, int d) {
        int q = H / G;
        int[] qp = new int[H];
        int[] kp = new int[G];
        int[] vp = new int[G];
        int pos = 0;
        for (int g = 0; g < G; g++) {
            for (int r = 0; r < q; r++) {
                qp[g * q + r] = pos;
                pos += d;
            }
            kp[g] = pos;
            pos += d;
            vp[g] = pos;
            pos += d;
        }
        return new int[][] {qp, kp, vp};
    }

    /** HF rotate_half RoPE in double on one head vector at {@code off}. */
    static void refRotate(double[] x, int off, int d, int p, double theta) {
        int half = d / 2;
        double[] y = new double[d];
        for (int i = 0; i < half; i++) {
            double a = p * Math.pow(theta, -2.0 * i / d);
            y[i] = x[off + i] * Math.cos(a) - x[off + i + half] * Math.sin(a);
            y[i + half] = x[off + i + half] * Math.cos(a) + x[off + i] * Math.sin(a);
        }
        System.arraycopy(y, 0, x, off, d);
    }

    static double[] refRope(double[] qkv, int B, int T, int H, int G, int d, double theta) {
        double[] x = qkv.clone();
        int[][] l = layout(H, G, d);
        int row = (H + 2 * G) * d;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                int r0 = (b * T + t) * row;
                for (int h = 0; h < H; h++) {
                    refRotate(x, r0 + l[0][h], d, t, theta);
                }
                for (int g = 0; g < G; g++) {
                    refRotate(x, r0 + l[1][g], d, t, theta);
                }
            }
        }
        return x;
    }

    @Test
    void matchesHfFormulaOnConcreteNumbers() {
        int d = 4;
        int T = 3;
        float[] qkv = new float[T * 3 * d];
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < 3 * d; j++) {
                qkv[t * 3 * d + j] = (j % d) + 1; // q = k = v = [1, 2, 3, 4]
            }
        }
        float[] orig = qkv.clone();
        RopeKernels.forward(qkv, 1, T, 1, 1, d, THETA);
        // position 0: identity (exactly)
        for (int j = 0; j < 3 * d; j++) {
            assertEquals(orig[j], qkv[j]);
        }
        // position 2: inv_freq = [1, 0.01], angles [2, 0.02]
        double[] want = {-3.1440391170241875, 1.9196053465598233, -0.33914308281574557, 4.039197360052977};
        int r2 = 2 * 3 * d;
        for (int j = 0; j < d; j++) {
            assertEquals(want[j], qkv[r2 + j], 1e-6, "q[" + j + "]");
            assertEquals(want[j], qkv[r2 + d + j], 1e-6, "k[" + j + "]");
            assertEquals(orig[r2 + 2 * d + j], qkv[r2 + 2 * d + j], "v untouched");
        }
        float[] inv = RopeKernels.invFreq(d, THETA);
        assertEquals(1f, inv[0]);
        assertEquals(0.01f, inv[1]);
    }

    @Test
    void forwardMatchesReferencePreservesNormsAndLeavesVAlone() {
        Random r = new Random(21);
        int B = 2, T = 5, H = 4, G = 2, d = 8;
        int row = (H + 2 * G) * d;
        float[] x = randn(r, B * T * row, 1.0);
        float[] y = x.clone();
        RopeKernels.forward(y, B, T, H, G, d, THETA);
        assertForward("rope", refRope(toDouble(x), B, T, H, G, d, THETA), y);
        int[][] l = layout(H, G, d);
        for (int bt = 0; bt < B * T; bt++) {
            for (int g = 0; g < G; g++) {
                for (int j = 0; j < d; j++) {
                    int i = bt * row + l[2][g] + j;
                    assertEquals(x[i], y[i], "v must not change");
                }
            }
            for (int h0 = 0; h0 < H + G; h0++) {
                int base = bt * row + (h0 < H ? l[0][h0] : l[1][h0 - H]);
                for (int i = 0; i < d / 2; i++) {
                    double n0 = Math.hypot(x[base + i], x[base + i + d / 2]);
                    double n1 = Math.hypot(y[base + i], y[base + i + d / 2]);
                    assertEquals(n0, n1, 1e-6 * (1 + n0), "pair norm");
                }
            }
        }
    }

    @Test
    void backwardIsInverseAndMatchesFiniteDifferences() {
        Random r = new Random(22);
        int B = 2, T = 5, H = 4, G = 2, d = 8;
        int row = (H + 2 * G) * d;
        float[] x = randn(r, B * T * row, 1.0);
        float[] y = x.clone();
        RopeKernels.forward(y, B, T, H, G, d, THETA);
        RopeKernels.backward(y, B, T, H, G, d, THETA);
        assertClose("backward(forward(x))", toDouble(x), y, 1e-5, 1e-6);

        double[] xd = toDouble(x);
        float[] rr = randn(r, B * T * row, 1.0);
        double[] rd = toDouble(rr);
        float[] g = rr.clone();
        RopeKernels.backward(g, B, T, H, G, d, THETA);
        assertGrad("rope dqkv", numGrad(xd, () -> dot(refRope(xd, B, T, H, G, d, THETA), rd)), g);
    }
}
