package dev.lattice.trainer.backend.cpu;

/**
 * GPT-2's tanh-approximated GELU ({@code torch.nn.GELU(approximate="tanh")}):
 * {@code y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}, element-wise over {@code n} floats.
 *
 * <p>Each element's transcendental math is evaluated in double and rounded once to float (more accurate
 * than a float tanh; storage stays fp32). The derivative uses {@code sech^2 = 1 - tanh^2}, which stays
 * finite for large |x| (no cosh overflow).
 */
public final class GeluKernels {

    private static final double S = Math.sqrt(2.0 / Math.PI);
    private static final double K = 0.044715;

    private GeluKernels() {
    }

    /** {@code out[i] = gelu(inp[i])}, WRITTEN. */
    public static void forward(float[] out, float[] inp, int n) {
        forward(out, 0, inp, 0, n);
    }

    /** Forward with offsets; {@code out} WRITTEN. {@code out} may alias {@code inp} at the same offset. */
    public static void forward(float[] out, int outOff, float[] inp, int inpOff, int n) {
        Parallel.forRange(n, 20L, (from, to) -> {
            for (int i = from; i < to; i++) {
                double x = inp[inpOff + i];
                double t = tanh(S * (x + K * x * x * x));
                out[outOff + i] = (float) (0.5 * x * (1.0 + t));
            }
        });
    }

    /** {@code dinp[i] += gelu'(inp[i]) * dout[i]}, ACCUMULATED. */
    public static void backward(float[] dinp, float[] inp, float[] dout, int n) {
        backward(dinp, 0, inp, 0, dout, 0, n);
    }

    /** Backward with offsets; {@code dinp} ACCUMULATED. */
    public static void backward(float[] dinp, int dinpOff, float[] inp, int inpOff, float[] dout, int doutOff, int n) {
        Parallel.forRange(n, 25L, (from, to) -> {
            for (int i = from; i < to; i++) {
                double x = inp[inpOff + i];
                double t = tanh(S * (x + K * x * x * x));
                double sech2 = 1.0 - t * t;
                double grad = 0.5 * (1.0 + t) + 0.5 * x * sech2 * S * (1.0 + 3.0 * K * x * x);
                dinp[dinpOff + i] += (float) grad * dout[doutOff + i];
            }
        });
    }

    /**
     * tanh through the intrinsic {@code Math.exp} ({@code Math.tanh} is a slow native call); in double, then rounded
     * to float by the callers, so the result equals {@code (float) Math.tanh} to within an ulp of float.
     */
    static double tanh(double u) {
        if (u > 20) {
            return 1.0;
        }
        if (u < -20) {
            return -1.0;
        }
        double e = Math.exp(2 * u);
        return (e - 1) / (e + 1);
    }
}
