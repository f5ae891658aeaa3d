package dev.lattice.parallel.comm;

/**
 * fp32 memory a communicator reads and writes: host arrays for the in-JVM communicator, device memory for NCCL.
 * Backend tensors implement it, so collectives run on tensors directly.
 */
public interface CommBuffer {

    /** Number of fp32 elements. */
    long size();
}
