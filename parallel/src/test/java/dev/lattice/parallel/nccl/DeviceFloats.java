package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.DeviceCommBuffer;
import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemset;

/**
 * fp32 device memory for the tests (allocated on the calling thread's current device, which must be
 * {@code device}). The copies run on the legacy default stream, which waits for the rank's compute stream (a
 * blocking stream) — and that stream is ordered after every communicator operation.
 */
final class DeviceFloats implements DeviceCommBuffer, AutoCloseable {

    private final int device;
    private final int size;
    private final Pointer memory = new Pointer();

    private DeviceFloats(int device, int size) {
        this.device = device;
        this.size = size;
        Cuda.check(cudaMalloc(memory, Math.max(4L, 4L * size)), "cudaMalloc of " + size + " test floats");
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
        if (values.length != size) {
            throw new IllegalArgumentException("expected " + size + " floats, got " + values.length);
        }
        if (size > 0) {
            Cuda.check(cudaMemcpy(memory, new FloatPointer(values), 4L * size, cudaMemcpyHostToDevice), "upload");
        }
    }

    float[] download() {
        float[] out = new float[size];
        if (size > 0) {
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
