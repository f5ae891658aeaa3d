package dev.lattice.trainer.backend.cuda;

import static org.bytedeco.cuda.global.cublas.*;

/**
 * How cuBLAS multiplies the fp32 tensors: exactly in fp32 (the CPU backend's arithmetic, for the kernel tests), or on
 * tensor cores with the inputs rounded to bf16 / tf32 and fp32 accumulation (mixed precision: fp32 master weights,
 * bf16 products).
 */
public enum GemmPrecision {
    FP32(CUBLAS_COMPUTE_32F_PEDANTIC),
    TF32(CUBLAS_COMPUTE_32F_FAST_TF32),
    BF16(CUBLAS_COMPUTE_32F_FAST_16BF),
    FP16(CUBLAS_COMPUTE_32F_FAST_16F);

    final int computeType;

    GemmPrecision(int computeType) {
        this.computeType = computeType;
    }

    /** From a flag value: fp32, tf32 or bf16. */
    public static GemmPrecision parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "fp32" -> FP32;
            case "tf32" -> TF32;
            case "bf16" -> BF16;
            case "fp16" -> FP16;
            default -> throw new IllegalArgumentException("precision must be fp32, tf32, bf16 or fp16, got '" + s
                    + "'");
        };
    }
}
