package dev.lattice.trainer.backend.cpu;

/**
 * SwiGLU gate of a Llama MLP on a fused gate/up projection.
 *
 * <p>Shapes: {@code inp: [N, 2F]}, each row {@code [gate (F) | up (F)]} (so one matmul with weight
 * {@code [2F, C]} produces both); {@code out, dout: [N, F]}; {@code dinp: [N, 2F]}.
 * {@code out = silu(gate) * up} with {@code silu(x) = x * sigmoid(x)}. Sigmoid is evaluated in double and
 * rounded to float.
 */
public final class SwiGluKernels {

    private SwiGluKernels() {
    }

    /** Forward; {@code out} WRITTEN. */
    public static void forward(float[] out, float[] inp, int N, int F) {
        forward(out, 0, inp, 0, N, F);
    }

    /** Forward with offsets; {@code out} WRITTEN. */
    public static void forward(float[] out, int outOff, float[] inp, int inpOff, int N, int F) {
        Parallel.forRange(N, 20L * F, (from, to) -> {
            for (int r = from; r < to; r++) {
                int i0 = inpOff + r * 2 * F;
                int o0 = outOff + r * F;
                for (int j = 0; j < F; j++) {
                    float g = inp[i0 + j];
                    float u = inp[i0 + F + j];
                    float sig = sigmoid(g);
                    out[o0 + j] = (g * sig) * u;
                }
            }
        });
    }

    /**
     * Backward; {@code dinp} is WRITTEN (not accumulated): {@code dgate = dout * up * sig * (1 + g (1 - sig))},
     * {@code dup = dout * silu(g)}.
     */
    public static void backward(float[] dinp, float[] inp, float[] dout, int N, int F) {
        backward(dinp, 0, inp, 0, dout, 0, N, F);
    }

    /** Backward with offsets; {@code dinp} WRITTEN. */
    public static void backward(float[] dinp, int dinpOff, float[] inp, int inpOff, float[] dout, int doutOff,
                                int N, int F) {
        Parallel.forRange(N, 25L * F, (from, to) -> {
            for (int r = from; r < to; r++) {
                int i0 = inpOff + r * 2 * F;
                int d0 = dinpOff + r * 2 * F;
                int g0 = doutOff + r * F;
                for (int j = 0; j < F; j++) {
                    float g = inp[i0 + j];
                    float u = inp[i0 + F + j];
                    float dy = dout[g0 + j];
                    float sig = sigmoid(g);
                    float dsilu = sig * (1f + g * (1f - sig));
                    dinp[d0 + j] = dy * u * dsilu;
                    dinp[d0 + F + j] = dy * (g * sig);
                }
            }
        });
    }

    static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-(double) x)));
    }
}
