package dev.lattice.trainer.backend.cpu;

/**
 * AdamW step matching {@code torch.optim.AdamW} (single-tensor, non-fused, fp32 state) and global
 * gradient-norm helpers.
 *
 * <p>Per element, with scalars computed in double like torch's Python floats and rounded to float where
 * torch passes them to a float tensor op:
 * <pre>
 *   param *= (float)(1 - lr*wd)
 *   m  = lerp(m, g, (float)(1 - b1))          // torch's exp_avg.lerp_; equals b1*m + (1-b1)*g up to rounding
 *   v  = v*(float)b2 + (float)(1 - b2)*g*g     // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
 *   bc1 = 1 - b1^step, bc2 = 1 - b2^step       // double
 *   denom = sqrt(v) / (float)sqrt(bc2) + (float)eps
 *   param += (float)(-lr/bc1) * m / denom
 * </pre>
 * {@code step} is the 1-based step count after incrementing (torch's {@code state['step']}).
 */
public final class AdamWKernels {

    /** Block size for the deterministic two-level sum of squares (independent of the thread count). */
    private static final int SUM_BLOCK = 1 << 16;

    private AdamWKernels() {
    }

    /** One AdamW step over {@code [0, n)}; {@code param}, {@code m}, {@code v} are updated in place. */
    public static void update(float[] param, float[] grad, float[] m, float[] v, int n, double lr, double beta1,
                              double beta2, double eps, double weightDecay, long step) {
        update(param, 0, grad, 0, m, 0, v, 0, n, lr, beta1, beta2, eps, weightDecay, step);
    }

    /** One AdamW step over {@code n} elements at the given offsets; updated in place. */
    public static void update(float[] param, int paramOff, float[] grad, int gradOff, float[] m, int mOff,
                              float[] v, int vOff, int n, double lr, double beta1, double beta2, double eps,
                              double weightDecay, long step) {
        if (step < 1) {
            throw new IllegalArgumentException("AdamW step must be >= 1, got " + step);
        }
        final float decay = (float) (1.0 - lr * weightDecay);
        final float w1 = (float) (1.0 - beta1);
        final float b2 = (float) beta2;
        final float w2 = (float) (1.0 - beta2);
        final double bc1 = 1.0 - Math.pow(beta1, step);
        final double bc2 = 1.0 - Math.pow(beta2, step);
        final float negStep = (float) (-(lr / bc1));
        final float bc2Sqrt = (float) Math.sqrt(bc2);
        final float epsF = (float) eps;
        Parallel.forRange(n, 12L, (from, to) -> {
            for (int i = from; i < to; i++) {
                float g = grad[gradOff + i];
                float p = param[paramOff + i] * decay;
                float mi = m[mOff + i];
                mi = Math.abs(w1) < 0.5f ? mi + w1 * (g - mi) : g - (g - mi) * (1f - w1);
                float vi = v[vOff + i] * b2 + w2 * g * g;
                float denom = (float) Math.sqrt(vi) / bc2Sqrt + epsF;
                param[paramOff + i] = p + negStep * mi / denom;
                m[mOff + i] = mi;
                v[vOff + i] = vi;
            }
        });
    }

    /**
     * {@code sum x[i]^2} in double over {@code [off, off+n)}. Deterministic: fixed blocks of 65536 elements
     * are summed (in parallel) in index order, then the block sums are added in block order; the result does
     * not depend on the thread count.
     */
    public static double sumOfSquares(float[] x, int off, int n) {
        int blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
        if (blocks <= 1) {
            return sumSq(x, off, n);
        }
        double[] partial = new double[blocks];
        Parallel.forRange(blocks, SUM_BLOCK, (from, to) -> {
            for (int k = from; k < to; k++) {
                int lo = k * SUM_BLOCK;
                int len = Math.min(SUM_BLOCK, n - lo);
                partial[k] = sumSq(x, off + lo, len);
            }
        });
        double s = 0.0;
        for (double p : partial) {
            s += p;
        }
        return s;
    }

    private static double sumSq(float[] x, int off, int n) {
        double s = 0.0;
        for (int i = off, end = off + n; i < end; i++) {
            double xi = x[i];
            s += xi * xi;
        }
        return s;
    }

    /** {@code x[i] *= s} in place (e.g. gradient clipping by {@code maxNorm / norm}). */
    public static void scale(float[] x, int off, int n, float s) {
        Parallel.forRange(n, 1L, (from, to) -> {
            for (int i = off + from, end = off + to; i < end; i++) {
                x[i] *= s;
            }
        });
    }
}
