package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionKernelsTest {

    static final int B = 2, T = 5, H = 4, D = 8;

    /** Double reference: returns {out [B,T,H*d], lse [B,H,T]}. */
    static double[][] refAttention(double[] qkv, int B, int T, int H, int G, int d) {
        int[][] l = RopeKernelsTest.layout(H, G, d);
        int row = (H + 2 * G) * d;
        int q = H / G;
        double scale = 1 / Math.sqrt(d);
        double[] out = new double[B * T * H * d];
        double[] lse = new double[B * H * T];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                int g = h / q;
                for (int t = 0; t < T; t++) {
                    double[] s = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int u = 0; u <= t; u++) {
                        double acc = 0;
                        for (int j = 0; j < d; j++) {
                            acc += qkv[(b * T + t) * row + l[0][h] + j] * qkv[(b * T + u) * row + l[1][g] + j];
                        }
                        s[u] = acc * scale;
                        max = Math.max(max, s[u]);
                    }
                    double sum = 0;
                    for (int u = 0; u <= t; u++) {
                        sum += Math.exp(s[u] - max);
                    }
                    for (int u = 0; u <= t; u++) {
                        double p = Math.exp(s[u] - max) / sum;
                        for (int j = 0; j < d; j++) {
                            out[(b * T + t) * H * d + h * d + j] += p * qkv[(b * T + u) * row + l[2][g] + j];
                        }
                    }
                    lse[(b * H + h) * T + t] = max + Math.log(sum);
                }
            }
        }
        return new double[][] {out, lse};
    }

    @Test
    void forwardAndBackwardMatchReferenceAndFiniteDifferences() {
        for (int G : new int[] {2, 4, 1}) {
            Random r = new Random(31 + G);
            int row = (H + 2 * G) * D;
            float[] qkv = randn(r, B * T * row, 1.0);
            float[] out = nanFilled(B * T * H * D);
            float[] lse = nanFilled(B * H * T);
            AttentionKernels.forward(out, lse, qkv, B, T, H, G, D);
            double[] qd = toDouble(qkv);
            double[][] ref = refAttention(qd, B, T, H, G, D);
            assertForward("attn out G=" + G, ref[0], out);
            assertForward("attn lse G=" + G, ref[1], lse);

            float[] rr = randn(r, B * T * H * D, 1.0);
            double[] rd = toDouble(rr);
            float[] dqkv = nanFilled(B * T * row); // must be fully overwritten
            AttentionKernels.backward(dqkv, rr, qkv, out, lse, B, T, H, G, D);
            double[] num = numGrad(qd, () -> dot(refAttention(qd, B, T, H, G, D)[0], rd));
            assertGrad("attn dqkv G=" + G, num, dqkv);
        }
    }

    @Test
    void isCausal() {
        int G = 2;
        int row = (H + 2 * G) * D;
        Random r = new Random(33);
        float[] qkv = randn(r, B * T * row, 1.0);
        float[] out = new float[B * T * H * D];
        float[] lse = new float[B * H * T];
        AttentionKernels.forward(out, lse, qkv, B, T, H, G, D);
        for (int t = 0; t + 1 < T; t++) {
            float[] q2 = qkv.clone();
            for (int b = 0; b < B; b++) {
                for (int j = 0; j < row; j++) {
                    q2[(b * T + t + 1) * row + j] += 0.5f + j;
                }
            }
            float[] out2 = new float[out.length];
            float[] lse2 = new float[lse.length];
            AttentionKernels.forward(out2, lse2, q2, B, T, H, G, D);
            boolean changed = false;
            for (int b = 0; b < B; b++) {
                for (int u = 0; u < T; u++) {
                    for (int k = 0; k < H * D; k++) {
                        int i = (b * T + u) * H * D + k;
                        if (u <= t) {
                            assertEquals(out[i], out2[i], "out at u=" + u + " changed when token " + (t + 1) + " did");
                        } else if (out[i] != out2[i]) {
                            changed = true;
                        }
                    }
                }
            }
            assertEquals(true, changed, "perturbing token t+1 must change later outputs");
        }
    }

    @Test
    void equalKvGroupsIsStandardMha() {
        int G = H;
        Random r = new Random(34);
        float[] Q = randn(r, B * T * H * D, 1.0);
        float[] K = randn(r, B * T * H * D, 1.0);
        float[] V = randn(r, B * T * H * D, 1.0);
        int row = 3 * H * D;
        float[] qkv = new float[B * T * row];
        for (int bt = 0; bt < B * T; bt++) {
            for (int h = 0; h < H; h++) {
                System.arraycopy(Q, bt * H * D + h * D, qkv, bt * row + 3 * h * D, D);
                System.arraycopy(K, bt * H * D + h * D, qkv, bt * row + 3 * h * D + D, D);
                System.arraycopy(V, bt * H * D + h * D, qkv, bt * row + 3 * h * D + 2 * D, D);
            }
        }
        float[] out = new float[B * T * H * D];
        AttentionKernels.forward(out, new float[B * H * T], qkv, B, T, H, G, D);
        // textbook softmax(Q K^T / sqrt(d) + causal mask) V per head
        double[] want = new double[out.length];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                for (int t = 0; t < T; t++) {
                    double[] w = new double[T];
                    double z = 0;
                    for (int u = 0; u <= t; u++) {
                        double s = 0;
                        for (int j = 0; j < D; j++) {
                            s += (double) Q[(b * T + t) * H * D + h * D + j] * K[(b * T + u) * H * D + h * D + j];
                        }
                        w[u] = Math.exp(s / Math.sqrt(D));
                        z += w[u];
                    }
                    for (int u = 0; u <= t; u++) {
                        for (int j = 0; j < D; j++) {
                            want[(b * T + t) * H * D + h * D + j] += w[u] / z * V[(b * T + u) * H * D + h * D + j];
                        }
                    }
                }
            }
        }
        assertForward("mha", want, out);
    }

    @Test
    void gqaEqualsMhaWithReplicatedKv() {
        int G = 2;
        int q = H / G;
        Random r = new Random(35);
        int rowG = (H + 2 * G) * D;
        int rowM = 3 * H * D;
        float[] gqa = randn(r, B * T * rowG, 1.0);
        float[] mha = new float[B * T * rowM];
        for (int bt = 0; bt < B * T; bt++) {
            for (int h = 0; h < H; h++) {
                int g = h / q;
                System.arraycopy(gqa, bt * rowG + QkvLayout.qOffset(h, H, G, D), mha, bt * rowM + 3 * h * D, D);
                System.arraycopy(gqa, bt * rowG + QkvLayout.kOffset(g, H, G, D), mha, bt * rowM + 3 * h * D + D, D);
                System.arraycopy(gqa, bt * rowG + QkvLayout.vOffset(g, H, G, D), mha, bt * rowM + 3 * h * D + 2 * D, D);
            }
        }
        float[] outG = new float[B * T * H * D];
        float[] lseG = new float[B * H * T];
        float[] outM = new float[B * T * H * D];
        float[] lseM = new float[B * H * T];
        AttentionKernels.forward(outG, lseG, gqa, B, T, H, G, D);
        AttentionKernels.forward(outM, lseM, mha, B, T, H, H, D);
        assertArrayEquals(outM, outG);
        assertArrayEquals(lseM, lseG);

        float[] dout = randn(r, outG.length, 1.0);
        float[] dG = new float[gqa.length];
        float[] dM = new float[mha.length];
        AttentionKernels.backward(dG, dout, gqa, outG, lseG, B, T, H, G, D);
        AttentionKernels.backward(dM, dout, mha, outM, lseM, B, T, H, H, D);
        for (int bt = 0; bt < B * T; bt++) {
            for (int g = 0; g < G; g++) {
                for (int j = 0; j < D; j++) {
                    double k = 0;
                    double v = 0;
                    for (int r2 = 0; r2 < q; r2++) {
                        int h = g * q + r2;
                        k += dM[bt * rowM + 3 * h * D + D + j];
                        v += dM[bt * rowM + 3 * h * D + 2 * D + j];
                    }
                    assertEquals(k, dG[bt * rowG + QkvLayout.kOffset(g, H, G, D) + j], 1e-5);
                    assertEquals(v, dG[bt * rowG + QkvLayout.vOffset(g, H, G, D) + j], 1e-5);
                }
            }
            for (int h = 0; h < H; h++) {
                for (int j = 0; j < D; j++) {
                    assertEquals(dM[bt * rowM + 3 * h * D + j], dG[bt * rowG + QkvLayout.qOffset(h, H, G, D) + j]);
                }
            }
        }
    }

    @Test
    void offsetsMatchPlainCall() {
        int G = 2;
        int row = (H + 2 * G) * D;
        Random r = new Random(36);
        float[] qkv = randn(r, B * T * row, 1.0);
        float[] out = new float[B * T * H * D];
        float[] lse = new float[B * H * T];
        AttentionKernels.forward(out, lse, qkv, B, T, H, G, D);
        float[] dout = randn(r, out.length, 1.0);
        float[] dqkv = new float[qkv.length];
        AttentionKernels.backward(dqkv, dout, qkv, out, lse, B, T, H, G, D);

        float[] qkv2 = new float[3 + qkv.length];
        System.arraycopy(qkv, 0, qkv2, 3, qkv.length);
        float[] act = new float[11 + out.length + lse.length];
        AttentionKernels.forward(act, 11, act, 11 + out.length, qkv2, 3, B, T, H, G, D);
        assertArrayEquals(out, Arrays.copyOfRange(act, 11, 11 + out.length));
        assertArrayEquals(lse, Arrays.copyOfRange(act, 11 + out.length, act.length));
        float[] dout2 = new float[2 + dout.length];
        System.arraycopy(dout, 0, dout2, 2, dout.length);
        float[] dqkv2 = new float[5 + dqkv.length];
        AttentionKernels.backward(dqkv2, 5, dout2, 2, qkv2, 3, act, 11, act, 11 + out.length, B, T, H, G, D);
        assertArrayEquals(dqkv, Arrays.copyOfRange(dqkv2, 5, dqkv2.length));
        for (float f : dqkv) {
            assertFalse(Float.isNaN(f));
        }
    }
}
