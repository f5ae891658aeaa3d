package dev.lattice.trainer.backend.cpu;

/**
 * Rotary position embedding, HF Llama convention ({@code rotate_half}, not interleaved), applied IN PLACE
 * to the q and k heads of a fused QKV buffer {@code [B, T, (H + 2G) d]} (layout: {@link QkvLayout}); v is
 * left alone. Positions are {@code t = 0..T-1} within each sequence.
 *
 * <p>For a head vector {@code x} of size {@code d} (even) at position {@code p}, {@code i < d/2}:
 * {@code out[i] = x[i] cos - x[i+d/2] sin}, {@code out[i+d/2] = x[i+d/2] cos + x[i] sin}, with angle
 * {@code p * inv_freq[i]}. The tables follow HF/torch fp32 arithmetic:
 * {@code inv_freq[i] = 1f / (float) pow((float) theta, (float) (2i) / (float) d)}, {@code angle = (float) p * inv_freq[i]}
 * (a float product), {@code cos = (float) Math.cos(angle)}, {@code sin = (float) Math.sin(angle)}.
 * The tables are rebuilt on every call ({@code T * d / 2} cos/sin pairs).
 */
public final class RopeKernels {

    private RopeKernels() {
    }

    /** {@code inv_freq[i] = 1 / theta^(2i/d)} for {@code i < d/2}, computed in float32 like torch. */
    public static float[] invFreq(int d, double theta) {
        if (d <= 0 || (d & 1) != 0) {
            throw new IllegalArgumentException("RoPE head dim must be positive and even, got " + d);
        }
        int half = d / 2;
        float[] inv = new float[half];
        float base = (float) theta;
        for (int i = 0; i < half; i++) {
            float e = (float) (2 * i) / (float) d;
            inv[i] = 1f / (float) Math.pow(base, e);
        }
        return inv;
    }

    /** cos/sin tables, each {@code [T, d/2]}: {@code [0]} = cos, {@code [1]} = sin. */
    public static float[][] cosSin(int T, int d, double theta) {
        float[] inv = invFreq(d, theta);
        int half = d / 2;
        float[] cos = new float[T * half];
        float[] sin = new float[T * half];
        for (int t = 0; t < T; t++) {
            float p = (float) t;
            for (int i = 0; i < half; i++) {
                float angle = p * inv[i];
                cos[t * half + i] = (float) Math.cos(angle);
                sin[t * half + i] = (float) Math.sin(angle);
            }
        }
        return new float[][] {cos, sin};
    }

    /** Rotates q and k heads of {@code qkv} in place (forward). */
    public static void forward(float[] qkv, int B, int T, int H, int G, int d, double theta) {
        forward(qkv, 0, B, T, H, G, d, theta);
    }

    /** {@link #forward(float[], int, int, int, int, int, double)} with an offset into {@code qkv}. */
    public static void forward(float[] qkv, int qkvOff, int B, int T, int H, int G, int d, double theta) {
        apply(qkv, qkvOff, B, T, H, G, d, theta, false);
    }

    /**
     * Backward: applies the inverse (transposed) rotation in place to the q and k parts of {@code dqkv}
     * (the gradient w.r.t. the rotated q/k becomes the gradient w.r.t. the un-rotated q/k); dv untouched.
     */
    public static void backward(float[] dqkv, int B, int T, int H, int G, int d, double theta) {
        backward(dqkv, 0, B, T, H, G, d, theta);
    }

    /** {@link #backward(float[], int, int, int, int, int, double)} with an offset into {@code dqkv}. */
    public static void backward(float[] dqkv, int dqkvOff, int B, int T, int H, int G, int d, double theta) {
        apply(dqkv, dqkvOff, B, T, H, G, d, theta, true);
    }

    private static void apply(float[] buf, int off, int B, int T, int H, int G, int d, double theta,
                              boolean inverse) {
        QkvLayout.check(H, G, d);
        float[][] cs = cosSin(T, d, theta);
        float[] cos = cs[0];
        float[] sin = cs[1];
        int half = d / 2;
        int q = H / G;
        int row = QkvLayout.rowSize(H, G, d);
        Parallel.forRange(B * T, 6L * (H + G) * d, (from, to) -> {
            for (int bt = from; bt < to; bt++) {
                int t = bt % T;
                int r0 = off + bt * row;
                int c0 = t * half;
                for (int g = 0; g < G; g++) {
                    int gBase = r0 + g * (q + 2) * d;
                    // q + 1 consecutive heads: the group's query heads, then k_g.
                    for (int j = 0; j <= q; j++) {
                        int h0 = gBase + j * d;
                        for (int i = 0; i < half; i++) {
                            float c = cos[c0 + i];
                            float s = inverse ? -sin[c0 + i] : sin[c0 + i];
                            float x1 = buf[h0 + i];
                            float x2 = buf[h0 + half + i];
                            buf[h0 + i] = x1 * c - x2 * s;
                            buf[h0 + half + i] = x2 * c + x1 * s;
                        }
                    }
                }
            }
        });
    }
}
