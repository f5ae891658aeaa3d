package dev.lattice.trainer.bench;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cuda.CudaBackend;
import dev.lattice.trainer.backend.cuda.GemmPrecision;
import org.bytedeco.cuda.cudart.CUevent_st;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

import static org.bytedeco.cuda.global.cudart.*;

/**
 * Times the CUDA backend's fused attention alone on bf16 activations ({@code --bf16}): forward, and backward, each
 * the median over {@code --reps} CUDA-event-timed calls on the backend's stream, with TFLOP/s (causal: half of
 * {@code 4·B·H·T²·d} forward, 2.5× that backward). Shapes default to GPT-2 124M's attention:
 * {@code --batch 16 --seq 1024 --heads 12 --groups heads --dim 64 --reps 50 --warmup 10}; {@code --shapes}
 * takes several {@code B,T,H,G,d} tuples separated by {@code ;}. The implementation is whatever the backend picks
 * ({@code -Dlattice.attention=own|cudnn} forces one).
 */
public final class AttentionBenchmark {

    private AttentionBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int reps = flag(args, "--reps", 50);
        int warmup = flag(args, "--warmup", 10);
        String shapes = text(args, "--shapes", null);
        if (shapes == null) {
            int heads = flag(args, "--heads", 12);
            shapes = flag(args, "--batch", 16) + "," + flag(args, "--seq", 1024) + "," + heads + ","
                    + flag(args, "--groups", heads) + "," + flag(args, "--dim", 64);
        }
        try (CudaBackend be = new CudaBackend(0, GemmPrecision.BF16)) {
            System.out.println(be.name() + ", attention " + be.attentionInfo());
            for (String s : shapes.split(";")) {
                int[] v = Arrays.stream(s.trim().split(",")).mapToInt(Integer::parseInt).toArray();
                run(be, v[0], v[1], v[2], v[3], v[4], reps, warmup);
            }
        }
        printLoadedLibraries();
    }

    static void run(CudaBackend be, int b, int t, int h, int g, int d, int reps, int warmup) {
        Random r = new Random(1);
        int row = (h + 2 * g) * d;
        Tensor qkv = be.activations(b, t, row);
        be.upload(qkv, randn(r, b * t * row));
        Tensor out = be.activations(b, t, h * d);
        Tensor lse = be.zeros(b * h * t);
        Tensor dout = be.activations(b, t, h * d);
        be.upload(dout, randn(r, b * t * h * d));
        Tensor dqkv = be.activations(b, t, row);
        double fwd = time(be, reps, warmup, () -> be.attentionForward(out, lse, qkv, b, t, h, g, d));
        double bwd = time(be, reps, warmup, () -> be.attentionBackward(dqkv, dout, qkv, out, lse, b, t, h, g, d));
        double flops = 4.0 * b * h * (double) t * t * d / 2;
        System.out.printf(Locale.ROOT, "B=%d T=%d H=%d G=%d d=%d  fwd %.3f ms (%.0f TFLOP/s)  bwd %.3f ms (%.0f "
                        + "TFLOP/s)  x12 layers: fwd %.2f bwd %.2f ms%n", b, t, h, g, d, fwd, flops / fwd / 1e9, bwd,
                2.5 * flops / bwd / 1e9, 12 * fwd, 12 * bwd);
    }

    static double time(CudaBackend be, int reps, int warmup, Runnable op) {
        for (int i = 0; i < warmup; i++) {
            op.run();
        }
        be.synchronize();
        CUevent_st a = new CUevent_st();
        CUevent_st z = new CUevent_st();
        Cuda.check(cudaEventCreate(a), "cudaEventCreate");
        Cuda.check(cudaEventCreate(z), "cudaEventCreate");
        double[] ms = new double[reps];
        float[] e = new float[1];
        for (int i = 0; i < reps; i++) {
            Cuda.check(cudaEventRecord(a, be.stream()), "cudaEventRecord");
            op.run();
            Cuda.check(cudaEventRecord(z, be.stream()), "cudaEventRecord");
            Cuda.check(cudaEventSynchronize(z), "cudaEventSynchronize");
            Cuda.check(cudaEventElapsedTime(e, a, z), "cudaEventElapsedTime");
            ms[i] = e[0];
        }
        cudaEventDestroy(a);
        cudaEventDestroy(z);
        Arrays.sort(ms);
        return ms[reps / 2];
    }

    /** Which CUDA libraries this process mapped (the machine may hold more than one cuDNN). */
    static void printLoadedLibraries() {
        try {
            Files.readAllLines(Path.of("/proc/self/maps")).stream().map(l -> l.substring(l.lastIndexOf(' ') + 1))
                    .filter(l -> l.contains("libcudnn") || l.contains("libcudart") || l.contains("libcublas"))
                    .distinct().forEach(l -> System.out.println("mapped: " + l));
        } catch (Exception e) {
            System.out.println("/proc/self/maps: " + e);
        }
    }

    static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static int flag(String[] args, String name, int def) {
        String v = text(args, name, null);
        return v == null ? def : Integer.parseInt(v);
    }

    static String text(String[] args, String name, String def) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }
}
