package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.comm.DeviceCommBuffer;
import dev.lattice.trainer.backend.Tensor;

import java.lang.ref.Cleaner;

/**
 * An fp32 tensor in device memory from the backend's caching allocator. The block returns to the allocator when the
 * tensor becomes unreachable (a {@link Cleaner}), which is safe because every use was enqueued on the backend's
 * stream before the tensor could become unreachable.
 */
public final class CudaTensor extends Tensor implements DeviceCommBuffer {

    private static final Cleaner CLEANER = Cleaner.create();

    private final long address;
    private final int device;

    CudaTensor(DeviceAllocator allocator, int device, int[] shape) {
        super(shape);
        this.device = device;
        this.address = allocator.allocate(4 * Math.max(1, numel()));
        long a = address;
        CLEANER.register(this, () -> allocator.release(a));
    }

    /** Device address of element 0. */
    public long address() {
        return address;
    }

    /** Device address of element {@code i}. */
    long at(long i) {
        return address + 4 * i;
    }

    @Override
    public long devicePointer() {
        return address;
    }

    @Override
    public int device() {
        return device;
    }

    @Override
    public long size() {
        return numel();
    }
}
