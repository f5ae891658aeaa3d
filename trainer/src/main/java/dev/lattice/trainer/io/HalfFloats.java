package dev.lattice.trainer.io;

/**
 * Conversions between {@code float} and the 16-bit formats IEEE binary16 (F16) and bfloat16 (BF16).
 * Narrowing rounds to nearest, ties to even; NaN stays NaN (quiet), infinities and signed zeros are kept.
 */
public final class HalfFloats {

    private HalfFloats() {
    }

    /** IEEE half (bits in the low 16 bits of {@code h}) to float; exact. */
    public static float f16ToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits >>> 15) << 31;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0) {
            // zero or subnormal: mant × 2^-24, exact in float
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /** Float to IEEE half, round to nearest even; overflow gives ±infinity. */
    public static short floatToF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) {
            if (mant == 0) {
                return (short) (sign | 0x7c00);
            }
            return (short) (sign | 0x7c00 | 0x200 | (mant >>> 13));
        }
        int e = exp - 127;
        if (e > 15) {
            return (short) (sign | 0x7c00);
        }
        if (e >= -14) {
            int result = ((e + 15) << 10) | (mant >>> 13);
            int rest = mant & 0x1fff;
            if (rest > 0x1000 || (rest == 0x1000 && (result & 1) == 1)) {
                result++; // may carry into the exponent, up to infinity: both correct
            }
            return (short) (sign | result);
        }
        if (exp == 0) {
            return (short) sign; // float subnormals are far below half's range
        }
        // half subnormal: value = full × 2^(e-23) = m × 2^-24  ⇒  m = full >> (-e-1)
        int full = mant | 0x800000;
        int shift = -e - 1;
        if (shift > 24) {
            return (short) sign;
        }
        int result = full >>> shift;
        int rest = full & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (rest > half || (rest == half && (result & 1) == 1)) {
            result++;
        }
        return (short) (sign | result);
    }

    /** bfloat16 (bits in the low 16 bits of {@code b}) to float; exact. */
    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** Float to bfloat16, round to nearest even; NaN stays a quiet NaN, overflow gives ±infinity. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7f800000) == 0x7f800000 && (bits & 0x7fffff) != 0) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
