package dev.lattice.trainer.backend.cpu;

/**
 * Causal multi-head self-attention with grouped-query attention (GQA), reading q, k, v from the fused QKV
 * buffer (layout: {@link QkvLayout}).
 *
 * <p>Shapes: {@code qkv, dqkv: [B, T, (H + 2G) d]}; {@code out, dout: [B, T, H d]} head-major within a
 * token ({@code out[b, t, h*d + j]}); {@code lse: [B, H, T]} (index {@code (b*H + h)*T + t}), the
 * natural-log log-sum-exp of each softmax row of the scaled scores. Scale is {@code 1/sqrt(d)}; query
 * {@code t} attends keys {@code 0..t}. Query head {@code h} uses kv group {@code h / (H/G)}; {@code G == H}
 * is ordinary MHA, {@code G == 1} is MQA.
 *
 * <p>Only {@code lse} is saved, not the {@code T x T} probabilities: the backward recomputes
 * {@code P = exp(S - lse)} (FlashAttention-style), so memory is O(B H T). Dot products and sums are
 * accumulated in float; exp/log are evaluated in double and rounded to float.
 *
 * <p>Parallelism: the forward runs over (b, h); the backward runs over (b, g) and, inside a group, walks
 * query heads then positions in a fixed order, so dK/dV sums over the sharing query heads are
 * deterministic.
 */
public final class AttentionKernels {

    private AttentionKernels() {
    }

    /** Forward; {@code out} and {@code lse} are WRITTEN. */
    public static void forward(float[] out, float[] lse, float[] qkv, int B, int T, int H, int G, int d) {
        forward(out, 0, lse, 0, qkv, 0, B, T, H, G, d);
    }

    /** Forward with offsets; {@code out} and {@code lse} are WRITTEN. */
    public static void forward(float[] out, int outOff, float[] lse, int lseOff, float[] qkv, int qkvOff,
                               int B, int T, int H, int G, int d) {
        QkvLayout.check(H, G, d);
        final int row = QkvLayout.rowSize(H, G, d);
        final int q = H / G;
        final int hd = H * d;
        final float scale = (float) (1.0 / Math.sqrt(d));
        Parallel.forRange(B * H, (long) T * T * d * 2, (from, to) -> {
            float[] sc = new float[T];
            for (int item = from; item < to; item++) {
                int b = item / H;
                int h = item % H;
                int g = h / q;
                int qOff = QkvLayout.qOffset(h, H, G, d);
                int kOff = QkvLayout.kOffset(g, H, G, d);
                int vOff = QkvLayout.vOffset(g, H, G, d);
                int seq = qkvOff + b * T * row;
                for (int t = 0; t < T; t++) {
                    int qi = seq + t * row + qOff;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        int ki = seq + t2 * row + kOff;
                        float dot = 0f;
                        for (int j = 0; j < d; j++) {
                            dot += qkv[qi + j] * qkv[ki + j];
                        }
                        float s = dot * scale;
                        sc[t2] = s;
                        if (s > max) {
                            max = s;
                        }
                    }
                    float sum = 0f;
                    for (int t2 = 0; t2 <= t; t2++) {
                        float e = (float) Math.exp(sc[t2] - max);
                        sc[t2] = e;
                        sum += e;
                    }
                    float inv = 1f / sum;
                    int oi = outOff + (b * T + t) * hd + h * d;
                    for (int j = 0; j < d; j++) {
                        out[oi + j] = 0f;
                    }
                    for (int t2 = 0; t2 <= t; t2++) {
                        float p = sc[t2] * inv;
                        int vi = seq + t2 * row + vOff;
                        for (int j = 0; j < d; j++) {
                            out[oi + j] += p * qkv[vi + j];
                        }
                    }
                    lse[lseOff + (b * H + h) * T + t] = max + (float) Math.log(sum);
                }
            }
        });
    }

    /**
     * Backward; {@code dqkv} is WRITTEN: every q, k and v slot of every token is overwritten (dk/dv are
     * the sums over the group's query heads, in head order then position order). Needs the forward's
     * {@code out} and {@code lse} and the same (pre-softmax, post-RoPE) {@code qkv}.
     * Uses {@code dS = P * (dP - rowsum(dO * O))}.
     */
    public static void backward(float[] dqkv, float[] dout, float[] qkv, float[] out, float[] lse,
                                int B, int T, int H, int G, int d) {
        backward(dqkv, 0, dout, 0, qkv, 0, out, 0, lse, 0, B, T, H, G, d);
    }

    /** Backward with offsets; {@code dqkv} WRITTEN. */
    public static void backward(float[] dqkv, int dqkvOff, float[] dout, int doutOff, float[] qkv, int qkvOff,
                                float[] out, int outOff, float[] lse, int lseOff,
                                int B, int T, int H, int G, int d) {
        QkvLayout.check(H, G, d);
        final int row = QkvLayout.rowSize(H, G, d);
        final int q = H / G;
        final int hd = H * d;
        final float scale = (float) (1.0 / Math.sqrt(d));
        Parallel.forRange(B * G, (long) q * T * T * d * 4, (from, to) -> {
            float[] pr = new float[T];
            float[] ds = new float[T];
            for (int item = from; item < to; item++) {
                int b = item / G;
                int g = item % G;
                int kOff = QkvLayout.kOffset(g, H, G, d);
                int vOff = QkvLayout.vOffset(g, H, G, d);
                int seq = qkvOff + b * T * row;
                int dseq = dqkvOff + b * T * row;
                for (int t = 0; t < T; t++) {
                    int base = dseq + t * row;
                    for (int j = 0; j < d; j++) {
                        dqkv[base + kOff + j] = 0f;
                        dqkv[base + vOff + j] = 0f;
                    }
                }
                for (int r = 0; r < q; r++) {
                    int h = g * q + r;
                    int qOff = QkvLayout.qOffset(h, H, G, d);
                    for (int t = 0; t < T; t++) {
                        int qi = seq + t * row + qOff;
                        int oi = (b * T + t) * hd + h * d;
                        float dsum = 0f;
                        for (int j = 0; j < d; j++) {
                            dsum += dout[doutOff + oi + j] * out[outOff + oi + j];
                        }
                        float l = lse[lseOff + (b * H + h) * T + t];
                        for (int t2 = 0; t2 <= t; t2++) {
                            int ki = seq + t2 * row + kOff;
                            int vi = seq + t2 * row + vOff;
                            float dot = 0f;
                            float dp = 0f;
                            for (int j = 0; j < d; j++) {
                                dot += qkv[qi + j] * qkv[ki + j];
                                dp += dout[doutOff + oi + j] * qkv[vi + j];
                            }
                            float p = (float) Math.exp(dot * scale - l);
                            pr[t2] = p;
                            ds[t2] = p * (dp - dsum) * scale;
                        }
                        int dqi = dseq + t * row + qOff;
                        for (int j = 0; j < d; j++) {
                            dqkv[dqi + j] = 0f;
                        }
                        for (int t2 = 0; t2 <= t; t2++) {
                            int ki = seq + t2 * row + kOff;
                            int dki = dseq + t2 * row + kOff;
                            int dvi = dseq + t2 * row + vOff;
                            float s = ds[t2];
                            float p = pr[t2];
                            for (int j = 0; j < d; j++) {
                                dqkv[dqi + j] += s * qkv[ki + j];
                                dqkv[dki + j] += s * qkv[qi + j];
                                dqkv[dvi + j] += p * dout[doutOff + oi + j];
                            }
                        }
                    }
                }
            }
        });
    }
}
