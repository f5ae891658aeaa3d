package dev.lattice.trainer.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class AdamWKernelsTest {

    @Test
    void matchesTorchFormulaOverThreeSteps() {
        double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
        float[] p = {1.0f, -0.5f, 0.25f, 2.0f, 0f, -3f};
        float[][] grads = {
            {0.1f, -0.2f, 0.3f, 0f, 1e-4f, -2f},
            {-0.05f, 0.4f, 0.3f, 0.01f, -1e-4f, 1f},
            {0.2f, 0.1f, -0.3f, -0.02f, 5e-5f, 0.5f},
        };
        int n = p.length;
        float[] m = new float[n];
        float[] v = new float[n];
        double[] pd = new double[n];
        double[] md = new double[n];
        double[] vd = new double[n];
        for (int i = 0; i < n; i++) {
            pd[i] = p[i];
        }
        for (int step = 1; step <= 3; step++) {
            float[] g = grads[step - 1];
            AdamWKernels.update(p, g, m, v, n, lr, b1, b2, eps, wd, step);
            // torch.optim.AdamW, single tensor:
            //   param.mul_(1 - lr*wd); exp_avg.lerp_(g, 1-b1); exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
            //   step_size = lr / (1 - b1**step); denom = exp_avg_sq.sqrt() / sqrt(1 - b2**step) + eps
            //   param.addcdiv_(exp_avg, denom, value=-step_size)
            for (int i = 0; i < n; i++) {
                pd[i] *= 1 - lr * wd;
                md[i] = b1 * md[i] + (1 - b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - b2) * g[i] * g[i];
                double denom = Math.sqrt(vd[i]) / Math.sqrt(1 - Math.pow(b2, step)) + eps;
                pd[i] -= lr / (1 - Math.pow(b1, step)) * md[i] / denom;
            }
            for (int i = 0; i < n; i++) {
                assertEquals(pd[i], p[i], 1e-6 * (1 + Math.abs(pd[i])), "param " + i + " step " + step);
                assertEquals(md[i], m[i], 1e-7 * (1 + Math.abs(md[i])), "m " + i + " step " + step);
                assertEquals(vd[i], v[i], 1e-7 * (1 + Math.abs(vd[i])), "v " + i + " step " + step);
            }
        }
    }

    @Test
    void firstStepMovesByAboutLr() {
        // m=v=0, wd=0: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g).
        float[] p = {1f, 1f};
        AdamWKernels.update(p, new float[] {0.5f, -3f}, new float[2], new float[2], 2, 0.1, 0.9, 0.999, 1e-8, 0.0, 1);
        assertEquals(0.9, p[0], 1e-6);
        assertEquals(1.1, p[1], 1e-6);
    }

    @Test
    void offsetsTouchOnlyTheirRange() {
        float[] p = {5f, 1f, 1f, 5f};
        float[] g = {9f, 0.5f, 0.5f, 9f};
        float[] m = new float[4];
        float[] v = new float[4];
        AdamWKernels.update(p, 1, g, 1, m, 1, v, 1, 2, 0.1, 0.9, 0.999, 1e-8, 0.0, 1);
        assertEquals(5f, p[0]);
        assertEquals(5f, p[3]);
        assertEquals(0f, m[0]);
        assertEquals(0f, v[3]);
        assertEquals(0.9, p[1], 1e-6);
    }

    @Test
    void sumOfSquaresAndScale() {
        Random r = new Random(61);
        int n = 200_001;
        float[] x = new float[n + 10];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        double want = 0;
        for (int i = 3; i < 3 + n; i++) {
            want += (double) x[i] * x[i];
        }
        assertEquals(want, AdamWKernels.sumOfSquares(x, 3, n), 1e-9 * want);
        assertEquals(25.0, AdamWKernels.sumOfSquares(new float[] {3f, 4f}, 0, 2));
        float[] y = {1f, 2f, 3f, 4f};
        AdamWKernels.scale(y, 1, 2, 0.5f);
        assertEquals(1f, y[0]);
        assertEquals(1f, y[1]);
        assertEquals(1.5f, y[2]);
        assertEquals(4f, y[3]);
    }
}
