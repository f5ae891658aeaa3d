package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Same input => bit-identical output, run after run and whatever the pool's thread count. */
class DeterminismTest {

    @AfterEach
    void restorePool() {
        Parallel.setPool(null);
    }

    /** Runs {@code run} twice on the common pool and once on pools of 1, 2 and 5 threads. */
    private static void assertDeterministic(String what, Supplier<float[][]> run) {
        List<float[][]> results = new ArrayList<>();
        results.add(run.get());
        results.add(run.get());
        for (int threads : new int[] {1, 2, 5}) {
            ForkJoinPool pool = new ForkJoinPool(threads);
            try {
                Parallel.setPool(pool);
                results.add(run.get());
            } finally {
                Parallel.setPool(null);
                pool.shutdown();
            }
        }
        float[][] first = results.get(0);
        for (int k = 1; k < results.size(); k++) {
            for (int a = 0; a < first.length; a++) {
                assertArrayEquals(first[a], results.get(k)[a], what + " output " + a + " run " + k);
            }
        }
    }

    @Test
    void normBackwardsAccumulateDeterministically() {
        int n = 96;
        int c = 512;
        Random r = new Random(71);
        float[] x = randn(r, n * c, 1.0);
        float[] w = randn(r, c, 1.0);
        float[] b = randn(r, c, 1.0);
        float[] dout = randn(r, n * c, 1.0);
        float[] dinp0 = randn(r, n * c, 1.0);
        float[] dw0 = randn(r, c, 1.0);
        float[] db0 = randn(r, c, 1.0);
        assertDeterministic("layernorm", () -> {
            float[] out = new float[n * c];
            float[] mean = new float[n];
            float[] rstd = new float[n];
            LayerNormKernels.forward(out, mean, rstd, x, w, b, n, c, 1e-5f);
            float[] dinp = dinp0.clone();
            float[] dw = dw0.clone();
            float[] db = db0.clone();
            LayerNormKernels.backward(dinp, dw, db, dout, x, w, mean, rstd, n, c);
            LayerNormKernels.backward(dinp, dw, db, dout, x, w, mean, rstd, n, c);
            return new float[][] {out, dinp, dw, db};
        });
        assertDeterministic("rmsnorm", () -> {
            float[] out = new float[n * c];
            float[] rstd = new float[n];
            RmsNormKernels.forward(out, rstd, x, w, n, c, 1e-6f);
            float[] dinp = dinp0.clone();
            float[] dw = dw0.clone();
            RmsNormKernels.backward(dinp, dw, dout, x, w, rstd, n, c);
            RmsNormKernels.backward(dinp, dw, dout, x, w, rstd, n, c);
            return new float[][] {out, dinp, dw};
        });
    }

    @Test
    void embeddingBackwardIsDeterministic() {
        int B = 4, T = 64, C = 256, V = 50;
        Random r = new Random(72);
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = r.nextInt(V); // many repeats
        }
        float[] dout = randn(r, B * T * C, 1.0);
        float[] dwte0 = randn(r, V * C, 1.0);
        float[] dwpe0 = randn(r, T * C, 1.0);
        assertDeterministic("embedding", () -> {
            float[] dwte = dwte0.clone();
            float[] dwpe = dwpe0.clone();
            EmbeddingKernels.backward(dwte, dwpe, dout, tokens, B, T, C);
            EmbeddingKernels.backward(dwte, dwpe, dout, tokens, B, T, C);
            return new float[][] {dwte, dwpe};
        });
    }

    @Test
    void attentionAndCrossEntropyAreDeterministic() {
        int B = 2, T = 48, H = 4, G = 2, d = 16;
        int row = (H + 2 * G) * d;
        Random r = new Random(73);
        float[] qkv = randn(r, B * T * row, 1.0);
        float[] dout = randn(r, B * T * H * d, 1.0);
        assertDeterministic("attention", () -> {
            float[] x = qkv.clone();
            RopeKernels.forward(x, B, T, H, G, d, 10000.0);
            float[] out = new float[B * T * H * d];
            float[] lse = new float[B * H * T];
            AttentionKernels.forward(out, lse, x, B, T, H, G, d);
            float[] dqkv = new float[x.length];
            AttentionKernels.backward(dqkv, dout, x, out, lse, B, T, H, G, d);
            RopeKernels.backward(dqkv, B, T, H, G, d, 10000.0);
            return new float[][] {out, lse, dqkv};
        });
        int n = 64, v = 1000, vp = 1024;
        float[] logits = randn(r, n * vp, 3.0);
        int[] targets = new int[n];
        for (int i = 0; i < n; i++) {
            targets[i] = r.nextInt(v);
        }
        float[] dl = randn(r, n, 1.0);
        assertDeterministic("cross-entropy", () -> {
            float[] losses = new float[n];
            CrossEntropyKernels.forward(losses, logits, targets, n, v, vp);
            float[] dlogits = new float[n * vp];
            CrossEntropyKernels.backward(dlogits, logits, targets, dl, n, v, vp);
            return new float[][] {losses, dlogits};
        });
    }

    @Test
    void sumOfSquaresDoesNotDependOnThreads() {
        Random r = new Random(74);
        float[] x = randn(r, 1_000_003, 1.0);
        assertDeterministic("sumsq", () -> new float[][] {{(float) AdamWKernels.sumOfSquares(x, 0, x.length)},
            {(float) (AdamWKernels.sumOfSquares(x, 0, x.length) * 1e-3)}});
        ForkJoinPool one = new ForkJoinPool(1);
        double a;
        try {
            Parallel.setPool(one);
            a = AdamWKernels.sumOfSquares(x, 0, x.length);
        } finally {
            Parallel.setPool(null);
            one.shutdown();
        }
        assertEquals(a, AdamWKernels.sumOfSquares(x, 0, x.length)); // exact double equality
    }

    @Test
    void parallelVisitsEveryIndexOnce() {
        ForkJoinPool pool = new ForkJoinPool(3);
        try {
            Parallel.setPool(pool);
            for (int n : new int[] {0, 1, 2, 7, 12, 100, 1001, 65537}) {
                AtomicIntegerArray seen = new AtomicIntegerArray(Math.max(1, n));
                Parallel.forRange(n, 1000, (from, to) -> {
                    for (int i = from; i < to; i++) {
                        seen.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, seen.get(i), "n=" + n + " i=" + i);
                }
            }
            // nested use from inside a pool task must not deadlock
            int[] total = new int[8];
            Parallel.forRange(8, 1_000_000, (from, to) -> {
                for (int i = from; i < to; i++) {
                    int[] inner = new int[100];
                    Parallel.forRange(100, 1_000_000, (a, b) -> {
                        for (int j = a; j < b; j++) {
                            inner[j] = 1;
                        }
                    });
                    int s = 0;
                    for (int v : inner) {
                        s += v;
                    }
                    total[i] = s;
                }
            });
            for (int t : total) {
                assertEquals(100, t);
            }
        } finally {
            Parallel.setPool(null);
            pool.shutdown();
        }
    }
}
