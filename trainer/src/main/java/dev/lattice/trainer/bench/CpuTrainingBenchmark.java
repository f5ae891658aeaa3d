package dev.lattice.trainer.bench;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.engine.Flops;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.optim.AdamW;

import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

/**
 * CPU benchmark: tokens/s and GFLOP/s of full training steps (forward, backward, AdamW) of a small GPT-2, and the
 * CPU backend's GEMM against OpenBLAS called directly. {@code bin/lattice bench-cpu [layers hidden heads seq mbs
 * iters]}; defaults 6 512 8 256 4 5.
 */
public final class CpuTrainingBenchmark {

    private CpuTrainingBenchmark() {
    }

    public static void main(String[] args) {
        int layers = arg(args, 0, 6);
        int hidden = arg(args, 1, 512);
        int heads = arg(args, 2, 8);
        int seq = arg(args, 3, 256);
        int mbs = arg(args, 4, 4);
        int iters = arg(args, 5, 5);
        System.out.printf(Locale.ROOT, "cores: %d, java %s%n", Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"));
        gemm(mbs * seq, hidden);
        trainingSteps(layers, hidden, heads, seq, mbs, iters);
    }

    private static int arg(String[] a, int i, int def) {
        return a.length > i ? Integer.parseInt(a[i]) : def;
    }

    private static void trainingSteps(int layers, int hidden, int heads, int seq, int mbs, int iters) {
        ModelConfig c = ModelConfig.gpt2(hidden, layers, heads, 50257, seq);
        Backend be = new CpuBackend();
        GptModel model = new GptModel(c, be, false);
        model.initialize(1, 0.02);
        AdamW adam = new AdamW(be, model.specs(), 0.9, 0.95, 1e-8, 0.1);
        Random r = new Random(1);
        int n = mbs * seq;
        int[] tokens = r.ints(n, 0, 50257).toArray();
        int[] targets = r.ints(n, 0, 50257).toArray();
        float[] mask = new float[n];
        Arrays.fill(mask, 1f);
        Batch b = new Batch(tokens, targets, mask, mbs, seq);
        float[] w = new float[n];
        Arrays.fill(w, 1f / n);
        double flops = Flops.perIteration(c, mbs, seq);
        System.out.printf(Locale.ROOT, "GPT-2 %d layers, hidden %d, heads %d, T=%d, micro-batch %d: %,d parameters,"
                + " %.1f GFLOP per step%n", layers, hidden, heads, seq, mbs, model.layout().numel(), flops / 1e9);
        double best = Double.MAX_VALUE;
        double total = 0;
        for (int i = 0; i < iters + 2; i++) {
            long t0 = System.nanoTime();
            model.zeroGradients();
            model.forward(b);
            model.backward(w);
            adam.step(model.parameters(), model.gradients(), 1e-4);
            double s = (System.nanoTime() - t0) / 1e9;
            if (i >= 2) { // two warm-up steps for the JIT
                best = Math.min(best, s);
                total += s;
            }
        }
        double mean = total / iters;
        System.out.printf(Locale.ROOT, "training step: mean %.3f s, best %.3f s | %.0f tokens/s | %.1f GFLOP/s%n",
                mean, best, n / mean, flops / mean / 1e9);
    }

    /** The backend's matmul on the model's shapes against direct OpenBLAS, plus a large square for the peak. */
    private static void gemm(int rows, int hidden) {
        Backend be = new CpuBackend();
        int[][] shapes = {{rows, 4 * hidden, hidden}, {rows, hidden, 4 * hidden}, {rows, 3 * hidden, hidden},
                {2048, 2048, 2048}};
        Random r = new Random(2);
        for (int[] s : shapes) {
            int m = s[0];
            int nn = s[1];
            int k = s[2];
            float[] a = new float[m * k];
            float[] bb = new float[nn * k];
            for (int i = 0; i < a.length; i++) {
                a[i] = r.nextFloat() - 0.5f;
            }
            for (int i = 0; i < bb.length; i++) {
                bb[i] = r.nextFloat() - 0.5f;
            }
            Tensor ta = be.fromHost(a, m, k);
            Tensor tb = be.fromHost(bb, nn, k);
            Tensor tc = be.zeros(m, nn);
            float[] cc = new float[m * nn];
            double flops = 2.0 * m * nn * k;
            double backend = best(() -> be.matmul(tc, ta, false, tb, true, m, nn, k, 1f, 0f), flops);
            double direct = best(() -> cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nn, k, 1f, a, k, bb,
                    k, 0f, cc, nn), flops);
            System.out.printf(Locale.ROOT, "GEMM %5d x %5d x %5d (A·Bᵀ): backend %.1f GFLOP/s, OpenBLAS direct %.1f"
                    + " GFLOP/s%n", m, nn, k, backend, direct);
        }
    }

    private static double best(Runnable op, double flops) {
        double bestSecs = Double.MAX_VALUE;
        for (int i = 0; i < 8; i++) {
            long t0 = System.nanoTime();
            op.run();
            bestSecs = Math.min(bestSecs, (System.nanoTime() - t0) / 1e9);
        }
        return flops / bestSecs / 1e9;
    }
}
