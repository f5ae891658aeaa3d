package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class CrossEntropyKernelsTest {

    static final int N = 6, V = 11, VP = 16;

    static double[] refLosses(double[] logits, int[] targets, int n, int v, int vp) {
        double[] loss = new double[n];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < v; c++) {
                max = Math.max(max, logits[i * vp + c]);
            }
            double s = 0;
            for (int c = 0; c < v; c++) {
                s += Math.exp(logits[i * vp + c] - max);
            }
            loss[i] = max + Math.log(s) - logits[i * vp + targets[i]];
        }
        return loss;
    }

    @Test
    void forwardAndBackwardMatchReference() {
        Random r = new Random(41);
        float[] logits = randn(r, N * VP, 3.0);
        int[] targets = {0, 10, 3, 3, 7, 1};
        float[] losses = nanFilled(N);
        float[] lse = nanFilled(N);
        CrossEntropyKernels.forward(losses, lse, logits, targets, N, V, VP);
        double[] ld = toDouble(logits);
        assertForward("ce loss", refLosses(ld, targets, N, V, VP), losses);

        float[] dloss = randn(r, N, 1.0);
        dloss[2] = 0f; // masked row
        double[] wd = toDouble(dloss);
        float[] dlogits = nanFilled(N * VP);
        CrossEntropyKernels.backward(dlogits, logits, targets, dloss, N, V, VP);
        double[] num = numGrad(ld, () -> dot(refLosses(ld, targets, N, V, VP), wd));
        assertGrad("ce dlogits", num, dlogits);
        for (int c = 0; c < VP; c++) {
            assertEquals(0f, dlogits[2 * VP + c], "masked row has zero grad");
        }
        for (int i = 0; i < N; i++) {
            for (int c = V; c < VP; c++) {
                assertEquals(0f, dlogits[i * VP + c], "padded column grad");
            }
        }
        // same result when the forward's lse is reused
        float[] dl2 = nanFilled(N * VP);
        CrossEntropyKernels.backward(dl2, 0, logits, 0, lse, 0, targets, 0, dloss, 0, N, V, VP);
        assertClose("ce dlogits via lse", toDouble(dlogits), dl2, 1e-5, 1e-7);
    }

    @Test
    void paddedColumnsNeverAffectTheLoss() {
        Random r = new Random(42);
        float[] logits = randn(r, N * VP, 3.0);
        int[] targets = {1, 2, 3, 4, 5, 6};
        float[] a = new float[N];
        CrossEntropyKernels.forward(a, logits, targets, N, V, VP);
        float[] poisoned = logits.clone();
        for (int i = 0; i < N; i++) {
            for (int c = V; c < VP; c++) {
                poisoned[i * VP + c] = (c % 3 == 0) ? Float.NaN : (c % 3 == 1 ? 1e30f : Float.POSITIVE_INFINITY);
            }
        }
        float[] b = new float[N];
        CrossEntropyKernels.forward(b, poisoned, targets, N, V, VP);
        assertArrayEquals(a, b);
        float[] dl = new float[N * VP];
        float[] ones = new float[N];
        java.util.Arrays.fill(ones, 1f);
        CrossEntropyKernels.backward(dl, poisoned, targets, ones, N, V, VP);
        for (float f : dl) {
            assertTrue(Float.isFinite(f));
        }
    }

    @Test
    void outOfRangeTargetThrowsWithRowAndId() {
        float[] logits = new float[N * VP];
        int[] targets = {0, 1, 2, 11, 4, 5};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropyKernels.forward(new float[N], logits, targets, N, V, VP));
        assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains("id 11"), e.getMessage());
        int[] neg = {0, -1, 2, 3, 4, 5};
        e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropyKernels.backward(new float[N * VP], logits, neg, new float[N], N, V, VP));
        assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("id -1"), e.getMessage());
    }

    @Test
    void uniformLogitsGiveLogV() {
        float[] logits = new float[2 * VP];
        float[] losses = new float[2];
        CrossEntropyKernels.forward(losses, logits, new int[] {0, 10}, 2, V, VP);
        assertEquals(Math.log(V), losses[0], 1e-6);
        assertEquals(Math.log(V), losses[1], 1e-6);
    }
}
