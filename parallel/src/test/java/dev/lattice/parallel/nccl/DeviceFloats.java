package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.DeviceCommBuffer;
import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemset;

/**
 * fp32 (or bf16, {@link #bf16}) device memory for the tests (allocated on the calling thread's current device, which must be
 * {@code device}). The copies run on the legacy default stream, which waits for the rank's compute stream (a
 * blocking stream) — and that stream is ordered after every communicator operation.
 */
final class DeviceFloats implements DeviceCommBuffer, AutoCloseable {

    private final int device;
    private final int size;
    private final int elementBytes;
    private final Pointer memory = new Pointer();

    private DeviceFloats(int device, int size, int elementBytes) {
        this.device = device;
        this.size = size;
        this.elementBytes = elementBytes;
        Cuda.check(cudaMalloc(memory, Math.max(4L, (long) elementBytes * size)), "cudaMalloc of " + size
                + " test elements");
    }

    private DeviceFloats(int device, int size) {
        this(device, size, 4);
    }

    /** bf16 storage: {@code values} rounded to nearest even (what a bf16 activation tensor holds). */
    static DeviceFloats bf16(int device, float[] values) {
        DeviceFloats d = new DeviceFloats(device, values.length, 2);
        short[] bits = new short[values.length];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = bf16Bits(values[i]);
        }
        if (bits.length > 0) {
            Cuda.check(cudaMemcpy(d.memory, new ShortPointer(bits), 2L * bits.length, cudaMemcpyHostToDevice),
                    "upload");
        }
        return d;
    }

    /** The bf16 bits of {@code x}, rounded to nearest even (finite inputs). */
    static short bf16Bits(float x) {
        int b = Float.floatToRawIntBits(x);
        return (short) ((b + 0x7FFF + ((b >>> 16) & 1)) >>> 16);
    }

    /** {@code x} rounded to bf16 and back. */
    static float roundBf16(float x) {
        return Float.intBitsToFloat((bf16Bits(x) & 0xFFFF) << 16);
    }

    @Override
    public int elementBytes() {
        return elementBytes;
    }

    static DeviceFloats of(int device, float[] values) {
        DeviceFloats d = new DeviceFloats(device, values.length);
        d.upload(values);
        return d;
    }

    static DeviceFloats zeros(int device, int size) {
        DeviceFloats d = new DeviceFloats(device, size);
        Cuda.check(cudaMemset(d.memory, 0, 4L * size), "cudaMemset");
        return d;
    }

    void upload(float[] values) {
        if (elementBytes != 4) {
            throw new IllegalStateException("upload into bf16 test memory: use DeviceFloats.bf16");
        }
        if (values.length != size) {
            throw new IllegalArgumentException("expected " + size + " floats, got " + values.length);
        }
        if (size > 0) {
            Cuda.check(cudaMemcpy(memory, new FloatPointer(values), 4L * size, cudaMemcpyHostToDevice), "upload");
        }
    }

    float[] download() {
        float[] out = new float[size];
        if (size > 0 && elementBytes == 2) {
            ShortPointer host = new ShortPointer(size);
            Cuda.check(cudaMemcpy(host, memory, 2L * size, cudaMemcpyDeviceToHost), "download");
            for (int i = 0; i < size; i++) {
                out[i] = Float.intBitsToFloat((host.get(i) & 0xFFFF) << 16);
            }
        } else if (size > 0) {
            FloatPointer host = new FloatPointer(size);
            Cuda.check(cudaMemcpy(host, memory, 4L * size, cudaMemcpyDeviceToHost), "download");
            host.get(out);
        }
        return out;
    }

    @Override
    public long devicePointer() {
        return memory.address();
    }

    @Override
    public int device() {
        return device;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void close() {
        Cuda.check(cudaFree(memory), "cudaFree of test floats");
    }
}
