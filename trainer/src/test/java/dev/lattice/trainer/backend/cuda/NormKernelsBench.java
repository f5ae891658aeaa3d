package dev.lattice.trainer.backend.cuda;

import dev.lattice.trainer.backend.Tensor;

import java.util.Locale;
import java.util.Random;

/**
 * Times the norm kernels over bf16 activations (GPT-2's shapes: 16,384 rows of 768 or 1,024) for each variant —
 * LayerNorm backward ({@link CudaBackend#layerNormBackwardVariant}) and the residual add with the norm after it
 * ({@link CudaBackend#addNormVariant}) — with each kernel's registers and local bytes, and the memory traffic's floor
 * at the card's bandwidth. Run on the GPU machine:
 * {@code java -cp ... dev.lattice.trainer.backend.cuda.NormKernelsBench [bandwidthGBs]}.
 */
public final class NormKernelsBench {

    private NormKernelsBench() {
    }

    public static void main(String[] args) {
        double bandwidth = args.length > 0 ? Double.parseDouble(args[0]) : 3350;
        try (CudaBackend be = new CudaBackend(0, GemmPrecision.BF16)) {
            for (String k : new String[] {"layernorm_backward_fused_warp", "layernorm_backward_cached_warp",
                    "layernorm_backward_cached_warp2", "add_column_partials", "add_norm_forward_warp",
                    "add_norm_forward_cached4", "add_norm_forward_cached8"}) {
                System.out.println(k + ": " + be.kernelResources(k));
            }
            int rows = 16384;
            for (int cols : new int[] {768, 1024}) {
                Random r = new Random(cols);
                Tensor x = be.activations(rows, cols);
                be.upload(x, CudaBackendTest.randn(r, rows * cols, 1));
                Tensor dout = be.activations(rows, cols);
                be.upload(dout, CudaBackendTest.randn(r, rows * cols, 1));
                Tensor dinp = be.activations(rows, cols);
                Tensor w = be.fromHost(CudaBackendTest.randn(r, cols, 1), cols);
                Tensor mean = be.zeros(rows);
                Tensor rstd = be.fromHost(filled(rows, 1f), rows);
                Tensor dw = be.zeros(cols);
                Tensor db = be.zeros(cols);
                double bytes = 4.0 * rows * cols * 2; // x and dout read, dinp read and written, bf16
                String before = CudaBackend.layerNormBackwardVariant;
                for (String variant : new String[] {"fused", "cached", "cached2", "fused"}) {
                    CudaBackend.layerNormBackwardVariant = variant;
                    double us = microseconds(be, () -> be.layerNormBackward(dinp, dw, db, dout, x, w, mean, rstd,
                            rows, cols));
                    print("layerNormBackward", rows, cols, variant, us, bytes, bandwidth);
                }
                CudaBackend.layerNormBackwardVariant = before;
                Tensor resid = be.activations(rows, cols);
                Tensor out = be.activations(rows, cols);
                Tensor bias = be.zeros(cols);
                String beforeAdd = CudaBackend.addNormVariant;
                for (String variant : new String[] {"warp", "cached", "warp"}) { // x, delta read; resid, out written
                    CudaBackend.addNormVariant = variant;
                    double us = microseconds(be, () -> be.addNormForward(resid, out, mean, rstd, x, dout, w, bias,
                            rows, cols, 1e-5f));
                    print("addNormForward", rows, cols, variant, us, bytes, bandwidth);
                }
                CudaBackend.addNormVariant = beforeAdd;
            }
        }
    }

    /** Mean microseconds a call over 200 calls after 20 warm-up calls (the stream kept full: GPU time). */
    private static double microseconds(CudaBackend be, Runnable call) {
        int n = 200;
        for (int i = 0; i < 20; i++) {
            call.run();
        }
        be.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            call.run();
        }
        be.synchronize();
        return (System.nanoTime() - t0) / 1e3 / n;
    }

    private static void print(String op, int rows, int cols, String variant, double us, double bytes,
                              double bandwidth) {
        System.out.printf(Locale.ROOT, "%s %d x %d bf16, %-8s %7.1f us a call (traffic floor %.1f us at %.0f GB/s)%n",
                op, rows, cols, variant, us, bytes / bandwidth / 1e3, bandwidth);
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
