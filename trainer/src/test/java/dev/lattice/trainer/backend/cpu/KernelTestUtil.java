package dev.lattice.trainer.backend.cpu;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;

/** Shared helpers for the kernel tests: random data, float/double conversion, finite differences. */
final class KernelTestUtil {

    static final double FD_EPS = 1e-6;

    private KernelTestUtil() {
    }

    /** A loss evaluated in double from inputs that the caller perturbs in place. */
    @FunctionalInterface
    interface Loss {
        double eval();
    }

    static float[] randn(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    static float[] uniform(Random r, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return a;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    static float[] nanFilled(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    /** Central differences of {@code loss} w.r.t. every element of {@code x} (restored afterwards). */
    static double[] numGrad(double[] x, Loss loss) {
        double[] g = new double[x.length];
        for (int k = 0; k < x.length; k++) {
            double save = x[k];
            x[k] = save + FD_EPS;
            double lp = loss.eval();
            x[k] = save - FD_EPS;
            double lm = loss.eval();
            x[k] = save;
            g[k] = (lp - lm) / (2 * FD_EPS);
        }
        return g;
    }

    /** Passes when relative error < rtol or absolute error < atol, element-wise. */
    static void assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        double[] a = toDouble(actual);
        assertClose(what, expected, a, rtol, atol);
    }

    static void assertClose(String what, double[] expected, double[] actual, double rtol, double atol) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + " != " + expected.length);
        }
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            double abs = Math.abs(a - e);
            double rel = abs / Math.max(Math.abs(e), Math.abs(a));
            if (!(abs < atol || rel < rtol)) {
                fail(what + "[" + i + "]: expected " + e + " got " + a + " (abs " + abs + ", rel " + rel + ")");
            }
        }
    }

    /** Forward check: rtol 1e-5 with a tiny absolute floor for values near zero. */
    static void assertForward(String what, double[] expected, float[] actual) {
        assertClose(what, expected, actual, 1e-5, 1e-6);
    }

    /** Gradient check against finite differences: rel < 1e-3 or abs < 1e-5. */
    static void assertGrad(String what, double[] numeric, float[] analytic) {
        assertClose(what, numeric, analytic, 1e-3, 1e-5);
    }

    /** {@code after - before}, in double: the part a kernel accumulated. */
    static float[] delta(float[] after, float[] before) {
        float[] d = new float[after.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) ((double) after[i] - before[i]);
        }
        return d;
    }

    static double[] deltaD(float[] after, float[] before) {
        double[] d = new double[after.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = (double) after[i] - before[i];
        }
        return d;
    }
}
