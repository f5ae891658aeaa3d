package dev.lattice.parallel.comm;

/**
 * Memory on a CUDA device (what NCCL reads and writes): the CUDA backend's tensors. Element {@code i} lives at
 * address {@code devicePointer() + elementBytes()·i} on device {@link #device()}: fp32, or bf16 for activations stored
 * in bf16 (every operand of one operation must have the same element type; NCCL converts nothing).
 */
public interface DeviceCommBuffer extends CommBuffer {

    /** The device address of element 0. */
    long devicePointer();

    /** The CUDA ordinal of the device holding the memory. */
    int device();

    /** Bytes per element: 4 (fp32), or 2 for a bf16-stored tensor. */
    default int elementBytes() {
        return 4;
    }
}
