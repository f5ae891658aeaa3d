package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ActivationKernelsTest {

    static double[] refGelu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            y[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
        }
        return y;
    }

    static double[] refSwiGlu(double[] x, int n, int f) {
        double[] y = new double[n * f];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < f; j++) {
                double g = x[i * 2 * f + j];
                double u = x[i * 2 * f + f + j];
                y[i * f + j] = g / (1 + Math.exp(-g)) * u;
            }
        }
        return y;
    }

    @Test
    void geluForwardAndBackward() {
        Random r = new Random(11);
        int n = 61;
        float[] x = randn(r, n, 2.0);
        x[0] = 0f;
        x[1] = 9f;
        x[2] = -9f;
        float[] y = nanFilled(n);
        GeluKernels.forward(y, x, n);
        double[] xd = toDouble(x);
        assertForward("gelu", refGelu(xd), y);
        // known value: gelu_tanh(1) = 0.8411920...
        float[] one = new float[1];
        GeluKernels.forward(one, new float[] {1f}, 1);
        assertEquals(0.841192, one[0], 1e-6);

        float[] rr = randn(r, n, 1.0);
        double[] rd = toDouble(rr);
        float[] d0 = randn(r, n, 1.0);
        float[] d = d0.clone();
        GeluKernels.backward(d, x, rr, n);
        assertGrad("gelu dinp", numGrad(xd, () -> dot(refGelu(xd), rd)), delta(d, d0));
    }

    @Test
    void swiGluForwardAndBackward() {
        Random r = new Random(12);
        int n = 6;
        int f = 12;
        float[] x = randn(r, n * 2 * f, 2.0);
        float[] y = nanFilled(n * f);
        SwiGluKernels.forward(y, x, n, f);
        double[] xd = toDouble(x);
        assertForward("swiglu", refSwiGlu(xd, n, f), y);

        float[] rr = randn(r, n * f, 1.0);
        double[] rd = toDouble(rr);
        float[] d = nanFilled(n * 2 * f); // written, not accumulated
        SwiGluKernels.backward(d, x, rr, n, f);
        assertGrad("swiglu dinp", numGrad(xd, () -> dot(refSwiGlu(xd, n, f), rd)), d);
    }

    @Test
    void residualAddAndAccumulate() {
        Random r = new Random(13);
        int n = 100_003; // big enough to go parallel
        float[] a = randn(r, n, 1.0);
        float[] b = randn(r, n, 1.0);
        float[] out = new float[n];
        ResidualKernels.add(out, a, b, n);
        float[] y = a.clone();
        ResidualKernels.accumulate(y, b, n);
        for (int i = 0; i < n; i++) {
            assertEquals(a[i] + b[i], out[i]);
            assertEquals(a[i] + b[i], y[i]);
        }
        float[] z = new float[10];
        ResidualKernels.add(z, 2, a, 5, b, 7, 3);
        assertEquals(0f, z[1]);
        assertEquals(a[5] + b[7], z[2]);
        assertEquals(a[7] + b[9], z[4]);
        assertEquals(0f, z[5]);
    }
}
