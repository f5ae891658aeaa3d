package dev.lattice.trainer.backend.cpu;

/**
 * RMSNorm as HF {@code LlamaRMSNorm}: {@code y = w * (x * rsqrt(mean(x^2) + eps))}.
 *
 * <p>Shapes: {@code inp, out, dout, dinp: [N, C]}, {@code weight, dweight: [C]}, {@code rstd: [N]}
 * (saved by the forward). Sums of squares are accumulated in float. Rows run in parallel; {@code dweight}
 * is parallel over columns with each element summed over rows in order (deterministic).
 */
public final class RmsNormKernels {

    private RmsNormKernels() {
    }

    /** Forward; {@code out} and {@code rstd} are WRITTEN. */
    public static void forward(float[] out, float[] rstd, float[] inp, float[] weight, int N, int C, float eps) {
        forward(out, 0, rstd, 0, inp, 0, weight, 0, N, C, eps);
    }

    /** Forward with explicit offsets; {@code out} and {@code rstd} are WRITTEN. */
    public static void forward(float[] out, int outOff, float[] rstd, int rstdOff, float[] inp, int inpOff,
                               float[] weight, int wOff, int N, int C, float eps) {
        Parallel.forRange(N, 4L * C, (from, to) -> {
            for (int i = from; i < to; i++) {
                int x0 = inpOff + i * C;
                float ss = 0f;
                for (int c = 0; c < C; c++) {
                    float x = inp[x0 + c];
                    ss += x * x;
                }
                float s = (float) (1.0 / Math.sqrt(ss / C + eps));
                int o0 = outOff + i * C;
                for (int c = 0; c < C; c++) {
                    out[o0 + c] = weight[wOff + c] * (inp[x0 + c] * s);
                }
                rstd[rstdOff + i] = s;
            }
        });
    }

    /** Backward; {@code dinp} and {@code dweight} are ACCUMULATED (+=). */
    public static void backward(float[] dinp, float[] dweight, float[] dout, float[] inp, float[] weight,
                                float[] rstd, int N, int C) {
        backward(dinp, 0, dweight, 0, dout, 0, inp, 0, weight, 0, rstd, 0, N, C);
    }

    /**
     * Backward with explicit offsets; outputs ACCUMULATED. With {@code n = x * rstd} and
     * {@code dn = dout * w}: {@code dx = rstd * (dn - n * mean(dn * n))}, {@code dw = sum_rows dout * n}.
     */
    public static void backward(float[] dinp, int dinpOff, float[] dweight, int dwOff, float[] dout, int doutOff,
                                float[] inp, int inpOff, float[] weight, int wOff, float[] rstd, int rstdOff,
                                int N, int C) {
        Parallel.forRange(N, 8L * C, (from, to) -> {
            for (int i = from; i < to; i++) {
                int x0 = inpOff + i * C;
                int g0 = doutOff + i * C;
                float s = rstd[rstdOff + i];
                float dot = 0f;
                for (int c = 0; c < C; c++) {
                    dot += weight[wOff + c] * dout[g0 + c] * (inp[x0 + c] * s);
                }
                dot /= C;
                int d0 = dinpOff + i * C;
                for (int c = 0; c < C; c++) {
                    float n = inp[x0 + c] * s;
                    float dn = weight[wOff + c] * dout[g0 + c];
                    dinp[d0 + c] += (dn - n * dot) * s;
                }
            }
        });
        Parallel.forRange(C, 3L * N, (c0, c1) -> {
            for (int i = 0; i < N; i++) {
                int x0 = inpOff + i * C;
                int g0 = doutOff + i * C;
                float s = rstd[rstdOff + i];
                for (int c = c0; c < c1; c++) {
                    dweight[dwOff + c] += dout[g0 + c] * (inp[x0 + c] * s);
                }
            }
        });
    }
}
