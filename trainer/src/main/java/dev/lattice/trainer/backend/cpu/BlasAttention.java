package dev.lattice.trainer.backend.cpu;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

/**
 * Causal GQA attention with its matrix products in OpenBLAS: per (sequence, head) the q, k and v rows are gathered
 * into contiguous [T, d] scratch arrays (OpenBLAS gets whole arrays), S = q·kᵀ and O = P·v run as GEMMs, and the
 * causal softmax in Java. Same contract and outputs (up to summation order) as the scalar reference
 * {@link AttentionKernels}, which the tests hold it to; it computes the full T×T score matrix and masks it, twice
 * the causal FLOPs but at GEMM speed. Heads run one after another: OpenBLAS threads each product itself.
 */
public final class BlasAttention {

    private BlasAttention() {
    }

    /** Scratch buffers of one call, sized for T and d. */
    private static final class Scratch {
        final float[] q;
        final float[] k;
        final float[] v;
        final float[] o;
        final float[] dout;
        final float[] s;
        final float[] dp;
        final float[] dq;
        final float[] dk;
        final float[] dv;

        Scratch(int t, int d) {
            q = new float[t * d];
            k = new float[t * d];
            v = new float[t * d];
            o = new float[t * d];
            dout = new float[t * d];
            s = new float[t * t];
            dp = new float[t * t];
            dq = new float[t * d];
            dk = new float[t * d];
            dv = new float[t * d];
        }
    }

    private static void gather(float[] src, int base, int rowStride, int off, int t, int d, float[] dst) {
        for (int i = 0; i < t; i++) {
            System.arraycopy(src, base + i * rowStride + off, dst, i * d, d);
        }
    }

    private static void scatter(float[] src, float[] dst, int base, int rowStride, int off, int t, int d) {
        for (int i = 0; i < t; i++) {
            System.arraycopy(src, i * d, dst, base + i * rowStride + off, d);
        }
    }

    public static void forward(float[] out, float[] lse, float[] qkv, int B, int T, int H, int G, int d) {
        QkvLayout.check(H, G, d);
        int row = QkvLayout.rowSize(H, G, d);
        int perGroup = H / G;
        int hd = H * d;
        float scale = (float) (1.0 / Math.sqrt(d));
        Scratch x = new Scratch(T, d);
        for (int b = 0; b < B; b++) {
            int seq = b * T * row;
            for (int h = 0; h < H; h++) {
                int g = h / perGroup;
                gather(qkv, seq, row, QkvLayout.qOffset(h, H, G, d), T, d, x.q);
                gather(qkv, seq, row, QkvLayout.kOffset(g, H, G, d), T, d, x.k);
                gather(qkv, seq, row, QkvLayout.vOffset(g, H, G, d), T, d, x.v);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, scale, x.q, d, x.k, d, 0f, x.s, T);
                int lseBase = (b * H + h) * T;
                for (int t = 0; t < T; t++) {
                    int r = t * T;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int u = 0; u <= t; u++) {
                        max = Math.max(max, x.s[r + u]);
                    }
                    float sum = 0f;
                    for (int u = 0; u <= t; u++) {
                        float e = (float) Math.exp(x.s[r + u] - max);
                        x.s[r + u] = e;
                        sum += e;
                    }
                    float inv = 1f / sum;
                    for (int u = 0; u <= t; u++) {
                        x.s[r + u] *= inv;
                    }
                    for (int u = t + 1; u < T; u++) {
                        x.s[r + u] = 0f;
                    }
                    lse[lseBase + t] = max + (float) Math.log(sum);
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1f, x.s, T, x.v, d, 0f, x.o, d);
                scatter(x.o, out, b * T * hd, hd, h * d, T, d);
            }
        }
    }

    public static void backward(float[] dqkv, float[] dout, float[] qkv, float[] out, float[] lse, int B, int T,
                                int H, int G, int d) {
        QkvLayout.check(H, G, d);
        int row = QkvLayout.rowSize(H, G, d);
        int perGroup = H / G;
        int hd = H * d;
        float scale = (float) (1.0 / Math.sqrt(d));
        Scratch x = new Scratch(T, d);
        for (int b = 0; b < B; b++) {
            int seq = b * T * row;
            for (int g = 0; g < G; g++) {
                int kOff = QkvLayout.kOffset(g, H, G, d);
                int vOff = QkvLayout.vOffset(g, H, G, d);
                gather(qkv, seq, row, kOff, T, d, x.k);
                gather(qkv, seq, row, vOff, T, d, x.v);
                java.util.Arrays.fill(x.dk, 0f);
                java.util.Arrays.fill(x.dv, 0f);
                for (int r = 0; r < perGroup; r++) {
                    int h = g * perGroup + r;
                    int qOff = QkvLayout.qOffset(h, H, G, d);
                    gather(qkv, seq, row, qOff, T, d, x.q);
                    gather(dout, b * T * hd, hd, h * d, T, d, x.dout);
                    gather(out, b * T * hd, hd, h * d, T, d, x.o);
                    // P from the saved log-sum-exp; dP = dO·vᵀ
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, scale, x.q, d, x.k, d, 0f, x.s, T);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, 1f, x.dout, d, x.v, d, 0f, x.dp, T);
                    int lseBase = (b * H + h) * T;
                    for (int t = 0; t < T; t++) {
                        float rowsum = 0f;
                        for (int j = 0; j < d; j++) {
                            rowsum += x.dout[t * d + j] * x.o[t * d + j];
                        }
                        float l = lse[lseBase + t];
                        int rr = t * T;
                        for (int u = 0; u <= t; u++) {
                            float p = (float) Math.exp(x.s[rr + u] - l);
                            x.s[rr + u] = p;
                            x.dp[rr + u] = p * (x.dp[rr + u] - rowsum) * scale; // dS, scale folded in
                        }
                        for (int u = t + 1; u < T; u++) {
                            x.s[rr + u] = 0f;
                            x.dp[rr + u] = 0f;
                        }
                    }
                    // dq = dS·k ; dk += dSᵀ·q ; dv += Pᵀ·dO
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1f, x.dp, T, x.k, d, 0f, x.dq, d);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1f, x.dp, T, x.q, d, 1f, x.dk, d);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1f, x.s, T, x.dout, d, 1f, x.dv, d);
                    scatter(x.dq, dqkv, seq, row, qOff, T, d);
                }
                scatter(x.dk, dqkv, seq, row, kOff, T, d);
                scatter(x.dv, dqkv, seq, row, vOff, T, d);
            }
        }
    }
}
