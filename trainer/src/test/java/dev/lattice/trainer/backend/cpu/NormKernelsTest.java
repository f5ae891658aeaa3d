package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class NormKernelsTest {

    static final int N = 6;
    static final int C = 16;
    static final float EPS = 1e-5f;

    static double[] refLayerNorm(double[] x, double[] w, double[] b, int n, int c, double eps) {
        double[] out = new double[n * c];
        for (int i = 0; i < n; i++) {
            double m = 0;
            for (int j = 0; j < c; j++) {
                m += x[i * c + j];
            }
            m /= c;
            double v = 0;
            for (int j = 0; j < c; j++) {
                v += (x[i * c + j] - m) * (x[i * c + j] - m);
            }
            v /= c;
            double s = 1 / Math.sqrt(v + eps);
            for (int j = 0; j < c; j++) {
                out[i * c + j] = (x[i * c + j] - m) * s * w[j] + b[j];
            }
        }
        return out;
    }

    static double[] refRmsNorm(double[] x, double[] w, int n, int c, double eps) {
        double[] out = new double[n * c];
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < c; j++) {
                ss += x[i * c + j] * x[i * c + j];
            }
            double s = 1 / Math.sqrt(ss / c + eps);
            for (int j = 0; j < c; j++) {
                out[i * c + j] = w[j] * x[i * c + j] * s;
            }
        }
        return out;
    }

    @Test
    void layerNormForwardAndBackwardMatchFiniteDifferences() {
        Random r = new Random(1);
        float[] x = randn(r, N * C, 1.5);
        for (int j = 0; j < C; j++) {
            x[C + j] += 3f; // a row with a large mean
        }
        float[] w = randn(r, C, 1.0);
        float[] b = randn(r, C, 1.0);
        float[] out = nanFilled(N * C);
        float[] mean = new float[N];
        float[] rstd = new float[N];
        LayerNormKernels.forward(out, mean, rstd, x, w, b, N, C, EPS);

        double[] xd = toDouble(x);
        double[] wd = toDouble(w);
        double[] bd = toDouble(b);
        assertForward("ln out", refLayerNorm(xd, wd, bd, N, C, EPS), out);

        float[] rr = randn(r, N * C, 1.0);
        double[] rd = toDouble(rr);
        KernelTestUtil.Loss loss = () -> dot(refLayerNorm(xd, wd, bd, N, C, EPS), rd);

        float[] dinp0 = randn(r, N * C, 1.0);
        float[] dw0 = randn(r, C, 1.0);
        float[] db0 = randn(r, C, 1.0);
        float[] dinp = dinp0.clone();
        float[] dw = dw0.clone();
        float[] db = db0.clone();
        LayerNormKernels.backward(dinp, dw, db, rr, x, w, mean, rstd, N, C);

        assertGrad("ln dinp", numGrad(xd, loss), delta(dinp, dinp0));
        assertGrad("ln dweight", numGrad(wd, loss), delta(dw, dw0));
        assertGrad("ln dbias", numGrad(bd, loss), delta(db, db0));
    }

    @Test
    void layerNormSavesMeanAndRstd() {
        Random r = new Random(2);
        float[] x = randn(r, N * C, 1.0);
        float[] w = randn(r, C, 1.0);
        float[] b = randn(r, C, 1.0);
        float[] mean = new float[N];
        float[] rstd = new float[N];
        LayerNormKernels.forward(new float[N * C], mean, rstd, x, w, b, N, C, EPS);
        double[] em = new double[N];
        double[] er = new double[N];
        for (int i = 0; i < N; i++) {
            double m = 0;
            for (int j = 0; j < C; j++) {
                m += x[i * C + j];
            }
            m /= C;
            double v = 0;
            for (int j = 0; j < C; j++) {
                v += (x[i * C + j] - m) * (x[i * C + j] - m);
            }
            em[i] = m;
            er[i] = 1 / Math.sqrt(v / C + EPS);
        }
        assertForward("mean", em, mean);
        assertForward("rstd", er, rstd);
    }

    @Test
    void layerNormOffsetsMatchPlainCall() {
        Random r = new Random(3);
        float[] x = randn(r, N * C, 1.0);
        float[] w = randn(r, C, 1.0);
        float[] b = randn(r, C, 1.0);
        float[] out = new float[N * C];
        float[] mean = new float[N];
        float[] rstd = new float[N];
        LayerNormKernels.forward(out, mean, rstd, x, w, b, N, C, EPS);

        int o = 7;
        float[] big = new float[o + N * C + 3];
        System.arraycopy(x, 0, big, o, N * C);
        float[] params = new float[5 + 2 * C];
        System.arraycopy(w, 0, params, 5, C);
        System.arraycopy(b, 0, params, 5 + C, C);
        float[] out2 = new float[2 + N * C];
        float[] stats = new float[1 + 2 * N];
        LayerNormKernels.forward(out2, 2, stats, 1, stats, 1 + N, big, o, params, 5, params, 5 + C, N, C, EPS);
        assertArrayEquals(out, java.util.Arrays.copyOfRange(out2, 2, 2 + N * C));
        assertArrayEquals(mean, java.util.Arrays.copyOfRange(stats, 1, 1 + N));
        assertArrayEquals(rstd, java.util.Arrays.copyOfRange(stats, 1 + N, 1 + 2 * N));
    }

    @Test
    void rmsNormForwardAndBackwardMatchFiniteDifferences() {
        Random r = new Random(4);
        float[] x = randn(r, N * C, 1.5);
        float[] w = randn(r, C, 1.0);
        float[] out = nanFilled(N * C);
        float[] rstd = new float[N];
        float eps = 1e-6f;
        RmsNormKernels.forward(out, rstd, x, w, N, C, eps);
        double[] xd = toDouble(x);
        double[] wd = toDouble(w);
        assertForward("rms out", refRmsNorm(xd, wd, N, C, eps), out);

        float[] rr = randn(r, N * C, 1.0);
        double[] rd = toDouble(rr);
        KernelTestUtil.Loss loss = () -> dot(refRmsNorm(xd, wd, N, C, eps), rd);
        float[] dinp0 = randn(r, N * C, 1.0);
        float[] dw0 = randn(r, C, 1.0);
        float[] dinp = dinp0.clone();
        float[] dw = dw0.clone();
        RmsNormKernels.backward(dinp, dw, rr, x, w, rstd, N, C);
        assertGrad("rms dinp", numGrad(xd, loss), delta(dinp, dinp0));
        assertGrad("rms dweight", numGrad(wd, loss), delta(dw, dw0));
    }
}
