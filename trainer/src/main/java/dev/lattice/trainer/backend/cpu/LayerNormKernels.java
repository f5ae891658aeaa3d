package dev.lattice.trainer.backend.cpu;

/**
 * LayerNorm over the last dimension, as {@code torch.nn.LayerNorm(C, eps)}: biased variance,
 * {@code y = (x - mean) * rstd * w + b} with {@code rstd = 1 / sqrt(var + eps)}.
 *
 * <p>Shapes: {@code inp, out, dout, dinp: [N, C]}, {@code weight, bias, dweight, dbias: [C]},
 * {@code mean, rstd: [N]} (saved by the forward for the backward, as in llm.c). Row statistics are
 * accumulated in float. Rows run in parallel; the parameter gradients are parallel over columns with each
 * element summed over rows 0..N-1 in order, so results are deterministic.
 */
public final class LayerNormKernels {

    private LayerNormKernels() {
    }

    /** Forward; {@code out}, {@code mean}, {@code rstd} are WRITTEN. */
    public static void forward(float[] out, float[] mean, float[] rstd, float[] inp, float[] weight, float[] bias,
                               int N, int C, float eps) {
        forward(out, 0, mean, 0, rstd, 0, inp, 0, weight, 0, bias, 0, N, C, eps);
    }

    /** Forward with explicit array offsets; {@code out}, {@code mean}, {@code rstd} are WRITTEN. */
    public static void forward(float[] out, int outOff, float[] mean, int meanOff, float[] rstd, int rstdOff,
                               float[] inp, int inpOff, float[] weight, int wOff, float[] bias, int bOff,
                               int N, int C, float eps) {
        Parallel.forRange(N, 8L * C, (from, to) -> {
            for (int i = from; i < to; i++) {
                int x0 = inpOff + i * C;
                float sum = 0f;
                for (int c = 0; c < C; c++) {
                    sum += inp[x0 + c];
                }
                float m = sum / C;
                float var = 0f;
                for (int c = 0; c < C; c++) {
                    float dx = inp[x0 + c] - m;
                    var += dx * dx;
                }
                var /= C;
                float s = (float) (1.0 / Math.sqrt(var + eps));
                int o0 = outOff + i * C;
                for (int c = 0; c < C; c++) {
                    float n = (inp[x0 + c] - m) * s;
                    out[o0 + c] = n * weight[wOff + c] + bias[bOff + c];
                }
                mean[meanOff + i] = m;
                rstd[rstdOff + i] = s;
            }
        });
    }

    /**
     * Backward; {@code dinp}, {@code dweight}, {@code dbias} are ACCUMULATED (+=), like llm.c.
     * {@code dbias} may be null (LayerNorm without bias).
     */
    public static void backward(float[] dinp, float[] dweight, float[] dbias, float[] dout, float[] inp,
                                float[] weight, float[] mean, float[] rstd, int N, int C) {
        backward(dinp, 0, dweight, 0, dbias, 0, dout, 0, inp, 0, weight, 0, mean, 0, rstd, 0, N, C);
    }

    /** Backward with explicit array offsets; outputs ACCUMULATED. {@code dbias} may be null. */
    public static void backward(float[] dinp, int dinpOff, float[] dweight, int dwOff, float[] dbias, int dbOff,
                                float[] dout, int doutOff, float[] inp, int inpOff, float[] weight, int wOff,
                                float[] mean, int meanOff, float[] rstd, int rstdOff, int N, int C) {
        // dinp: independent per row.
        Parallel.forRange(N, 10L * C, (from, to) -> {
            for (int i = from; i < to; i++) {
                int x0 = inpOff + i * C;
                int g0 = doutOff + i * C;
                float m = mean[meanOff + i];
                float s = rstd[rstdOff + i];
                float dnormMean = 0f;
                float dnormNormMean = 0f;
                for (int c = 0; c < C; c++) {
                    float n = (inp[x0 + c] - m) * s;
                    float dn = weight[wOff + c] * dout[g0 + c];
                    dnormMean += dn;
                    dnormNormMean += dn * n;
                }
                dnormMean /= C;
                dnormNormMean /= C;
                int d0 = dinpOff + i * C;
                for (int c = 0; c < C; c++) {
                    float n = (inp[x0 + c] - m) * s;
                    float dn = weight[wOff + c] * dout[g0 + c];
                    dinp[d0 + c] += (dn - dnormMean - n * dnormNormMean) * s;
                }
            }
        });
        // dweight / dbias: parallel over columns, rows summed in fixed order.
        Parallel.forRange(C, 4L * N, (c0, c1) -> {
            for (int i = 0; i < N; i++) {
                int x0 = inpOff + i * C;
                int g0 = doutOff + i * C;
                float m = mean[meanOff + i];
                float s = rstd[rstdOff + i];
                for (int c = c0; c < c1; c++) {
                    float g = dout[g0 + c];
                    dweight[dwOff + c] += (inp[x0 + c] - m) * s * g;
                    if (dbias != null) {
                        dbias[dbOff + c] += g;
                    }
                }
            }
        });
    }
}
