package dev.lattice.trainer.backend.cuda;

import dev.lattice.trainer.backend.Tensor;

import java.util.Locale;
import java.util.Random;

/**
 * Times LayerNorm backward over bf16 activations (GPT-2's shapes: 16,384 rows of 768 or 1,024) for each kernel
 * variant of {@link CudaBackend#layerNormBackwardVariant}, with each kernel's registers and local bytes, and the
 * memory traffic's floor at the card's bandwidth. Run on the GPU machine:
 * {@code java -cp ... dev.lattice.trainer.backend.cuda.LayerNormBackwardBench [bandwidthGBs]}.
 */
public final class LayerNormBackwardBench {

    private LayerNormBackwardBench() {
    }

    public static void main(String[] args) {
        double bandwidth = args.length > 0 ? Double.parseDouble(args[0]) : 3350;
        try (CudaBackend be = new CudaBackend(0, GemmPrecision.BF16)) {
            for (String k : new String[] {"layernorm_backward_fused_warp", "layernorm_backward_cached_warp",
                    "layernorm_backward_cached_warp2", "add_column_partials"}) {
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
                for (String variant : new String[] {"fused", "cached", "cached2", "fused"}) {
                    CudaBackend.layerNormBackwardVariant = variant;
                    int n = 200;
                    for (int i = 0; i < 20; i++) {
                        be.layerNormBackward(dinp, dw, db, dout, x, w, mean, rstd, rows, cols);
                    }
                    be.synchronize();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        be.layerNormBackward(dinp, dw, db, dout, x, w, mean, rstd, rows, cols);
                    }
                    be.synchronize();
                    double us = (System.nanoTime() - t0) / 1e3 / n;
                    System.out.printf(Locale.ROOT, "layerNormBackward %d x %d bf16, %-8s %7.1f us a call (traffic"
                            + " floor %.1f us at %.0f GB/s)%n", rows, cols, variant, us, bytes / bandwidth / 1e3,
                            bandwidth);
                }
            }
        }
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
