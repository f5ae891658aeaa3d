package dev.lattice.parallel.nccl;

import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;

/**
 * A communicator's staging memory: device scratch that NCCL reads and writes for operands that are not device
 * memory (host arrays) or must not alias (overlapping send and receive ranges), and a pinned host mirror of the
 * same size for the host ↔ device copies. Grown on demand; only used by operations that wait for completion
 * before returning, so growing never frees memory a pending operation still uses.
 */
final class Scratch {

    private static final long MIN_BYTES = 64 << 10;

    private final String owner;
    private long device;
    private long host;
    private long bytes;

    Scratch(String owner) {
        this.owner = owner;
    }

    /** Makes room for {@code need} bytes (on the current device). */
    void ensure(long need) {
        if (need <= bytes && device != 0) {
            return;
        }
        free();
        long size = Math.max(MIN_BYTES, Math.max(need, 2 * bytes));
        Pointer d = new Pointer();
        Cuda.check(cudaMalloc(d, size), "cudaMalloc of " + size + " bytes of scratch for " + owner);
        Pointer h = new Pointer();
        int rc = cudaMallocHost(h, size);
        if (rc != 0) {
            cudaFree(d);
            Cuda.check(rc, "cudaMallocHost of " + size + " bytes of pinned staging for " + owner);
        }
        device = d.address();
        host = h.address();
        bytes = size;
    }

    long device(long at) {
        return device + at;
    }

    long host(long at) {
        return host + at;
    }

    /** Copies {@code a[off, off+count)} into the pinned mirror at byte {@code at}. */
    void toPinned(float[] a, int off, int count, long at) {
        pinned(at, count).put(a, off, count);
    }

    /** Copies {@code count} floats at byte {@code at} of the pinned mirror into {@code a[off, ...)}. */
    void fromPinned(float[] a, int off, int count, long at) {
        pinned(at, count).get(a, off, count);
    }

    private FloatPointer pinned(long at, int count) {
        FloatPointer p = new FloatPointer(Addr.of(host + at));
        p.capacity(count);
        p.limit(count);
        return p;
    }

    /** Frees both buffers (on the current device). */
    void free() {
        if (device != 0) {
            Cuda.check(cudaFree(Addr.of(device)), "cudaFree of the scratch of " + owner);
            device = 0;
        }
        if (host != 0) {
            Cuda.check(cudaFreeHost(Addr.of(host)), "cudaFreeHost of the pinned staging of " + owner);
            host = 0;
        }
        bytes = 0;
    }
}
