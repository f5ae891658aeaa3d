package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.comm.DeviceCommBuffer;
import dev.lattice.trainer.backend.Tensor;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A tensor in device memory from the backend's caching allocator: fp32, or bf16 for activations under mixed
 * precision ({@link CudaBackend#activations}); kernels compute in fp32 either way (common.cuh's LD/ST). The block
 * returns to the allocator when the tensor becomes unreachable (a {@link Cleaner}), which is safe because every use
 * was enqueued on the backend's stream, in program order, before the tensor could become unreachable.
 */
public final class CudaTensor extends Tensor implements DeviceCommBuffer {

    private static final Cleaner CLEANER = Cleaner.create();

    /**
     * Counts the changes of any tensor's device address after its creation (a placement into a flat buffer, a kept
     * bf16 rounding allocated): what a backend caches by address (adamw_multi's tables) is stale once it moved.
     */
    private static final AtomicLong ADDRESS_EPOCH = new AtomicLong();

    static long addressEpoch() {
        return ADDRESS_EPOCH.get();
    }

    static void addressesChanged() {
        ADDRESS_EPOCH.incrementAndGet();
    }

    private long address; // element 0: in the tensor's own block, or in another tensor's after aliasInto
    private final int device;
    private final boolean bf16;
    private final RoundedCopy rounded = new RoundedCopy();
    private final OwnBlock own = new OwnBlock();
    private CudaTensor base; // the tensor whose storage this one lives in (kept reachable as long as this one)

    /** The block the tensor allocated, freed by the Cleaner; 0 once the tensor lives in another's storage. */
    private static final class OwnBlock {
        volatile long address;
    }

    /**
     * The bf16 rounding of an fp32 weight that GEMMs read under mixed precision ({@link CudaBackend#keepBf16Copies}):
     * kept between products instead of rounding the weight into scratch for each one, made lazily at the first
     * product, marked stale by every backend write to the weight and rewritten by AdamW in the same pass as the update
     * (Megatron's bf16 model parameters beside fp32 main parameters). Freed with the tensor.
     */
    static final class RoundedCopy {
        boolean kept;
        volatile long address;
        boolean fresh;
        // set by borrow(): the rounding lives in another tensor's bf16 storage (ZeRO's flat bf16 parameter buffer),
        // held here so that it outlives this tensor, and is not freed with it
        volatile CudaTensor lender;
        // the rounding of a flat parameter buffer from element flatStart on: AdamW writes the rounding of any segment
        // there, not only of whole tensors
        boolean flat;
        long flatStart;

        /** From now on the rounding is {@code base}'s bf16 elements from {@code offset}; an own one is released. */
        void borrow(DeviceAllocator allocator, CudaTensor base, long offset, long count) {
            if (!base.bf16 || offset < 0 || offset + count > base.numel()) {
                throw new IllegalArgumentException("cannot keep a rounding at " + offset + " of " + base);
            }
            long mine = lender == null ? address : 0;
            lender = base;
            address = base.addressOf(offset);
            fresh = false;
            kept = true;
            addressesChanged();
            if (mine != 0) {
                allocator.release(mine);
            }
        }
    }

    /** A device address with its storage, for kernel arguments at an offset into a tensor. */
    record Ptr(long address, boolean bf16) {
    }

    CudaTensor(DeviceAllocator allocator, int device, int[] shape, boolean bf16) {
        super(shape);
        this.device = device;
        this.bf16 = bf16;
        this.address = allocator.allocate((bf16 ? 2 : 4) * Math.max(1, numel()));
        own.address = address;
        OwnBlock o = own;
        RoundedCopy r = rounded;
        CLEANER.register(this, () -> {
            if (o.address != 0) {
                allocator.release(o.address);
            }
            if (r.address != 0 && r.lender == null) {
                allocator.release(r.address);
            }
        });
    }

    /**
     * From now on this tensor's elements are {@code base}'s elements {@code [offset, offset + numel)}: its own block
     * goes back to the allocator (stream order makes that safe, as for the Cleaner). The caller has copied the values.
     */
    void aliasInto(DeviceAllocator allocator, CudaTensor base, long offset) {
        if (base.bf16 != bf16 || base.device != device || offset < 0 || offset + numel() > base.numel()
                || base.base != null) {
            throw new IllegalArgumentException("cannot place " + this + " at " + offset + " of " + base);
        }
        long mine = own.address;
        this.address = base.addressOf(offset);
        addressesChanged();
        this.base = base;
        own.address = 0;
        if (mine != 0) {
            allocator.release(mine);
        }
    }

    /**
     * Returns this tensor's own block and own rounding to the allocator now (the caller has dropped every use; stream
     * order makes the reuse safe, as for the Cleaner, which then finds nothing left to free). Its address becomes 0,
     * which the backend refuses (an IllegalStateException naming the tensor) rather than reading another tensor's data.
     */
    void recycle(DeviceAllocator allocator) {
        long mine = own.address;
        own.address = 0;
        if (mine != 0) {
            allocator.release(mine);
        }
        long rounding = rounded.lender == null ? rounded.address : 0;
        rounded.address = 0;
        rounded.fresh = false;
        if (rounding != 0) {
            allocator.release(rounding);
        }
        address = 0;
    }

    RoundedCopy rounded() {
        return rounded;
    }

    /** Device address of element 0. */
    public long address() {
        return address;
    }

    /** Whether the storage is bf16 (else fp32). */
    public boolean isBf16() {
        return bf16;
    }

    /** Element {@code i} as a kernel argument. */
    Ptr at(long i) {
        return new Ptr(address + elementBytes() * i, bf16);
    }

    /** The device address of element {@code i}. */
    long addressOf(long i) {
        return address + elementBytes() * i;
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
    public int elementBytes() {
        return bf16 ? 2 : 4;
    }

    @Override
    public long size() {
        return numel();
    }
}
