package dev.lattice.parallel.cuda;

/** A CUDA, cuBLAS, NVRTC or NCCL call failed; the message names the operation. */
public final class CudaException extends RuntimeException {

    public CudaException(String message) {
        super(message);
    }
}
