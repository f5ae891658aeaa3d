package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

import java.util.Arrays;

import static org.bytedeco.cuda.global.cudart.*;

/**
 * Small host arrays the model passes per call (token ids, targets, per-row loss weights) copied to the device
 * without stalling the stream: a ring of slots, each with pinned host memory, a device buffer and an event that
 * says when its last copy has left the host buffer. The same array passed again (same object, same contents: the
 * embedding's tokens reach forward, backward and the loss) is not copied again.
 */
final class HostUploads {

    private static final int SLOTS = 8;

    private final CUstream_st stream;
    private final DeviceAllocator allocator;
    private final Slot[] slots = new Slot[SLOTS];
    private int next;

    private static final class Slot {
        Object source;
        int[] contents = new int[0];
        IntPointer pinned;
        long capacity; // ints
        long device;
        final CUevent_st copied = new CUevent_st();
        boolean pending;
    }

    HostUploads(CUstream_st stream, DeviceAllocator allocator) {
        this.stream = stream;
        this.allocator = allocator;
        for (int i = 0; i < SLOTS; i++) {
            slots[i] = new Slot();
            Cuda.check(cudaEventCreateWithFlags(slots[i].copied, cudaEventDisableTiming), "cudaEventCreate");
        }
    }

    /** The device address of a copy of {@code data}, valid for work enqueued on the stream from now on. */
    long ints(int[] data) {
        return upload(data, data);
    }

    /** The same for floats (bit patterns are compared and copied). */
    long floats(float[] data) {
        int[] bits = new int[data.length];
        for (int i = 0; i < data.length; i++) {
            bits[i] = Float.floatToRawIntBits(data[i]);
        }
        return upload(data, bits);
    }

    private long upload(Object source, int[] bits) {
        for (Slot s : slots) {
            if (s.source == source && Arrays.equals(s.contents, bits)) {
                return s.device;
            }
        }
        Slot s = slots[next];
        next = (next + 1) % SLOTS;
        if (s.pending) {
            Cuda.check(cudaEventSynchronize(s.copied), "cudaEventSynchronize (upload slot)");
        }
        int n = Math.max(1, bits.length);
        if (s.capacity < n) {
            long cap = Math.max(n, s.capacity * 2);
            if (s.pinned != null) {
                IntPointer pinned = s.pinned;
                long device = s.device;
                // the slot forgets both before they go: a failed allocation below must not leave them to close()
                s.pinned = null;
                s.device = 0;
                s.capacity = 0;
                s.source = null;
                Cuda.check(cudaFreeHost(pinned), "cudaFreeHost (upload slot)");
                if (device != 0) {
                    allocator.release(device);
                }
            }
            Pointer p = new Pointer();
            Cuda.check(cudaMallocHost(p, 4 * cap), "cudaMallocHost");
            s.pinned = new IntPointer(p).capacity(cap);
            s.device = allocator.allocate(4 * cap);
            s.capacity = cap;
        }
        s.pinned.put(bits, 0, bits.length);
        Cuda.check(cudaMemcpyAsync(DevicePointers.at(s.device), s.pinned, 4L * bits.length, cudaMemcpyHostToDevice,
                stream), "cudaMemcpyAsync (upload)");
        Cuda.check(cudaEventRecord(s.copied, stream), "cudaEventRecord");
        s.pending = true;
        s.source = source;
        s.contents = bits.clone();
        return s.device;
    }

    void close() {
        for (Slot s : slots) {
            if (s.pending) {
                cudaEventSynchronize(s.copied);
            }
            if (s.pinned != null) {
                cudaFreeHost(s.pinned);
            }
            cudaEventDestroy(s.copied);
        }
    }
}
