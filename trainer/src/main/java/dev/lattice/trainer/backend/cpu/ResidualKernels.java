package dev.lattice.trainer.backend.cpu;

/** Element-wise residual helpers over flat float buffers (parallel over elements for large n). */
public final class ResidualKernels {

    private ResidualKernels() {
    }

    /** {@code out[i] = a[i] + b[i]}, WRITTEN. {@code out} may alias {@code a} or {@code b}. */
    public static void add(float[] out, float[] a, float[] b, int n) {
        add(out, 0, a, 0, b, 0, n);
    }

    /** {@link #add(float[], float[], float[], int)} with offsets. */
    public static void add(float[] out, int outOff, float[] a, int aOff, float[] b, int bOff, int n) {
        Parallel.forRange(n, 1L, (from, to) -> {
            for (int i = from; i < to; i++) {
                out[outOff + i] = a[aOff + i] + b[bOff + i];
            }
        });
    }

    /** {@code y[i] += x[i]}, ACCUMULATED (e.g. the residual branch of a backward pass). */
    public static void accumulate(float[] y, float[] x, int n) {
        accumulate(y, 0, x, 0, n);
    }

    /** {@link #accumulate(float[], float[], int)} with offsets. */
    public static void accumulate(float[] y, int yOff, float[] x, int xOff, int n) {
        Parallel.forRange(n, 1L, (from, to) -> {
            for (int i = from; i < to; i++) {
                y[yOff + i] += x[xOff + i];
            }
        });
    }
}
