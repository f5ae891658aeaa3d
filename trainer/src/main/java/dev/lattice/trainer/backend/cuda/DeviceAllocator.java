package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.parallel.cuda.CudaException;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching allocator for one device and one stream (PyTorch's idea, simplified): freed blocks go to a free list by
 * rounded size and are handed out again, so the training loop does not call cudaMalloc/cudaFree once its shapes
 * have been seen. Reuse is safe without synchronisation because every user of a block enqueues on the same stream:
 * work enqueued after the free runs after the work that used the block.
 *
 * <p>Sizes round up to 512 B below 1 MiB and to 2 MiB above, so the pooled activations of one shape always fit the
 * blocks of another micro-batch of that shape. When cudaMalloc fails, the cached blocks are released and the
 * allocation retried once (after a GC, whose cleaners return unreachable tensors' blocks).
 */
final class DeviceAllocator {

    private static final long SMALL = 1L << 20;

    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private final Map<Long, Long> sizeOf = new HashMap<>();
    private final java.util.Set<Long> cached = new java.util.HashSet<>(); // the blocks on the free lists
    private long inUse;
    private long peakInUse;
    private long reserved;
    private long peakReserved;
    private long mallocCalls;
    private boolean closed;

    static long round(long bytes) {
        if (bytes <= 0) {
            return 512;
        }
        long unit = bytes < SMALL ? 512 : 2L << 20;
        return (bytes + unit - 1) / unit * unit;
    }

    synchronized long allocate(long bytes) {
        if (closed) {
            throw new IllegalStateException("CUDA backend is closed");
        }
        long size = round(bytes);
        ArrayDeque<Long> list = free.get(size);
        long ptr;
        if (list != null && !list.isEmpty()) {
            ptr = list.pop();
            cached.remove(ptr);
        } else {
            ptr = malloc(size);
        }
        inUse += size;
        peakInUse = Math.max(peakInUse, inUse);
        return ptr;
    }

    private long malloc(long size) {
        Pointer p = new Pointer();
        int rc = cudart.cudaMalloc(p, size);
        if (rc != 0) {
            cudart.cudaGetLastError(); // clear the sticky-free error state of a failed allocation
            releaseCached();
            System.gc();
            try {
                wait(50); // let cleaners of unreachable tensors run
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            rc = cudart.cudaMalloc(p, size);
            if (rc != 0) {
                throw new CudaException(String.format(java.util.Locale.ROOT,
                        "cudaMalloc of %.1f MiB failed (%d MiB in use, %d MiB reserved by Lattice): out of GPU"
                                + " memory; lower --micro-batch-size, use --recompute-granularity selective (or full)"
                                + " or more parallelism",
                        size / 1048576.0, inUse >> 20, reserved >> 20));
            }
        }
        mallocCalls++;
        reserved += size;
        peakReserved = Math.max(peakReserved, reserved);
        sizeOf.put(p.address(), size);
        return p.address();
    }

    synchronized void release(long ptr) {
        if (closed) {
            return;
        }
        Long size = sizeOf.get(ptr);
        if (size == null) {
            throw new IllegalArgumentException("not a block of this allocator: 0x" + Long.toHexString(ptr));
        }
        if (!cached.add(ptr)) { // twice on the free list would hand one block to two tensors
            throw new IllegalStateException("block 0x" + Long.toHexString(ptr) + " handed back twice");
        }
        inUse -= size;
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(ptr);
    }

    /** Frees every cached (unused) block; the caller has synchronised the stream. */
    synchronized void releaseCached() {
        for (var e : free.entrySet()) {
            for (long ptr : e.getValue()) {
                Cuda.check(cudart.cudaFree(DevicePointers.at(ptr)), "cudaFree");
                sizeOf.remove(ptr);
                cached.remove(ptr);
                reserved -= e.getKey();
            }
        }
        free.clear();
    }

    synchronized long peakBytesInUse() {
        return peakInUse;
    }

    synchronized long bytesInUse() {
        return inUse;
    }

    synchronized long bytesReserved() {
        return reserved;
    }

    synchronized long peakBytesReserved() {
        return peakReserved;
    }

    synchronized long mallocCalls() {
        return mallocCalls;
    }

    synchronized void resetPeak() {
        peakInUse = inUse;
        peakReserved = reserved;
    }

    /** Frees every block, cached or not (the backend is closing; its stream is idle). */
    synchronized void close() {
        if (closed) {
            return;
        }
        for (long ptr : sizeOf.keySet()) {
            cudart.cudaFree(DevicePointers.at(ptr));
        }
        sizeOf.clear();
        free.clear();
        cached.clear();
        closed = true;
    }
}
