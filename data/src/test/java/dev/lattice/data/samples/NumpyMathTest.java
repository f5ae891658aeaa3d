package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

/**
 * numpy 2.4.6 reference:
 *
 * <pre>{@code
 * sc = [1.0, 1e-3, 1e3, 0.1, 7.0]
 * a = np.array([((i*7919) % 1009 + 1) / 997.0 * sc[i % 5] for i in range(n)])
 * repr(float(np.sum(a))), (a / np.sum(a))[:3].tolist()
 * }</pre>
 */
class NumpyMathTest {

    private static double[] values(int n) {
        double[] sc = {1.0, 1e-3, 1e3, 0.1, 7.0};
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = ((i * 7919) % 1009 + 1) / 997.0 * sc[i % 5];
        }
        return a;
    }

    private static double sequential(double[] a) {
        double s = 0;
        for (double x : a) {
            s += x;
        }
        return s;
    }

    @Test
    void sumMatchesNumpyPairwiseSummation() {
        assertEquals(706.1202176529589, NumpyMath.sum(values(3)));
        assertEquals(1660.0682537612838, NumpyMath.sum(values(8)));
        assertEquals(1855.6564343029086, NumpyMath.sum(values(17)));
        assertEquals(20944.84631193581, NumpyMath.sum(values(200)));
        assertEquals(102861.72333199599, NumpyMath.sum(values(1000)));
        // A left-to-right sum gives different bits for these, so the pairwise order matters.
        assertNotEquals(NumpyMath.sum(values(17)), sequential(values(17)));
        assertNotEquals(NumpyMath.sum(values(1000)), sequential(values(1000)));
        assertEquals(0.0, NumpyMath.sum(new double[0]));
    }

    @Test
    void normalizeMatchesNumpy() {
        double[] w = NumpyMath.normalize(values(200));
        assertEquals(4.7888106321871665e-08, w[0]);
        assertEquals(4.104010711784402e-08, w[1]);
        assertEquals(0.033713226850597654, w[2]);
        double[] w3 = NumpyMath.normalize(values(3));
        assertEquals(1.4204507986120269e-06, w3[0]);
        assertEquals(0.999997362222867, w3[2]);
    }
}
