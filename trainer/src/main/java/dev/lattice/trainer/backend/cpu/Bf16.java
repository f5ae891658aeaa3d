package dev.lattice.trainer.backend.cpu;

/** Rounding fp32 to bfloat16 (the top 16 bits), round to nearest even, as CUDA's {@code __float2bfloat16_rn}. */
public final class Bf16 {

    private Bf16() {
    }

    /** {@code x} rounded to the nearest bfloat16, returned as the fp32 of equal value. */
    public static float round(float x) {
        if (Float.isNaN(x)) {
            return x;
        }
        int bits = Float.floatToRawIntBits(x);
        int lsb = (bits >>> 16) & 1;
        bits += 0x7FFF + lsb;
        return Float.intBitsToFloat(bits & 0xFFFF0000);
    }
}
