package dev.lattice.parallel.comm;

/**
 * fp32 memory on a CUDA device (what NCCL reads and writes): the CUDA backend's tensors. Element {@code i} lives at
 * address {@code devicePointer() + 4·i} on device {@link #device()}.
 */
public interface DeviceCommBuffer extends CommBuffer {

    /** The device address of element 0. */
    long devicePointer();

    /** The CUDA ordinal of the device holding the memory. */
    int device();
}
