package dev.lattice.data.samples;

/**
 * The two float64 reductions Megatron's dataset code does through numpy, reproduced to the last bit: {@code numpy.sum}
 * (pairwise summation) and its {@code normalize} helper. Weights that differ in the last bit change which dataset the
 * greedy blending picks on ties, so a plain left-to-right sum is not good enough for 8 or more weights.
 */
public final class NumpyMath {

    /** numpy's unroll factor and block size in {@code pairwise_sum}. */
    private static final int UNROLL = 8;
    private static final int BLOCK = 128;

    private NumpyMath() {
    }

    /** {@code numpy.sum(values)} for a contiguous float64 array. */
    public static double sum(double[] values) {
        return pairwiseSum(values, 0, values.length);
    }

    private static double pairwiseSum(double[] a, int from, int n) {
        if (n < UNROLL) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += a[from + i];
            }
            return res;
        }
        if (n <= BLOCK) {
            // Eight running partial sums, combined as a balanced tree, then the leftover tail sequentially.
            double[] r = new double[UNROLL];
            for (int j = 0; j < UNROLL; j++) {
                r[j] = a[from + j];
            }
            int i = UNROLL;
            for (; i < n - (n % UNROLL); i += UNROLL) {
                for (int j = 0; j < UNROLL; j++) {
                    r[j] += a[from + i + j];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                res += a[from + i];
            }
            return res;
        }
        int half = n / 2;
        half -= half % UNROLL;
        return pairwiseSum(a, from, half) + pairwiseSum(a, from + half, n - half);
    }

    /** Megatron's {@code utils.normalize}: {@code numpy.array(w, float64) / numpy.sum(w)}. */
    public static double[] normalize(double[] weights) {
        double total = sum(weights);
        double[] out = new double[weights.length];
        for (int i = 0; i < weights.length; i++) {
            out[i] = weights[i] / total;
        }
        return out;
    }
}
