package dev.lattice.trainer.backend.cpu;

import dev.lattice.parallel.comm.HostCommBuffer;
import dev.lattice.trainer.backend.Tensor;

/** A tensor in one Java float array of its own (offset 0: OpenBLAS is handed whole arrays). */
public final class CpuTensor extends Tensor implements HostCommBuffer {

    final float[] data;

    CpuTensor(float[] data, int[] shape) {
        super(shape);
        if (data.length != numel()) {
            throw new IllegalArgumentException("data of " + data.length + " floats for a tensor of " + numel());
        }
        this.data = data;
    }

    /** The backing array (CPU backend and tests only). */
    public float[] data() {
        return data;
    }

    @Override
    public float[] array() {
        return data;
    }

    @Override
    public long size() {
        return numel();
    }
}
