package dev.lattice.trainer.backend;

import dev.lattice.parallel.comm.CommBuffer;

import java.util.Arrays;

/**
 * A dense fp32 tensor owned by a {@link Backend}: host memory on the CPU backend, device memory on the CUDA backend.
 * Model code only passes tensors back to their backend; it never reads the storage directly.
 */
public abstract class Tensor implements CommBuffer {

    private final int[] shape;
    private final long numel;

    protected Tensor(int[] shape) {
        this.shape = shape.clone();
        long n = 1;
        for (int s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, s);
        }
        this.numel = n;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int dim(int i) {
        return shape[i];
    }

    public long numel() {
        return numel;
    }

    /** Elements, as communicators count them. */
    @Override
    public long size() {
        return numel;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + Arrays.toString(shape);
    }
}
