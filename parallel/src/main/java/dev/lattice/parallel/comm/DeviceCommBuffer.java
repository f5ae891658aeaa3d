package dev.lattice.parallel.comm;

/**
 * fp32 memory on a CUDA device (what NCCL reads and writes): the CUDA backend's tensors. Element {@code i} lives at
 * address {@code devicePointer() + 4·i} on device {@link #device()}. (bf16-stored activations say so through
 * {@link #elementBytes()} and are refused.)
 */
public interface DeviceCommBuffer extends CommBuffer {

    /** The device address of element 0. */
    long devicePointer();

    /** The CUDA ordinal of the device holding the memory. */
    int device();

    /** Bytes per element: 4 (fp32), or 2 for a bf16-stored tensor, which communicators do not take (yet). */
    default int elementBytes() {
        return 4;
    }
}
