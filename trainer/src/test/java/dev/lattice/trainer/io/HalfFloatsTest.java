package dev.lattice.trainer.io;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static dev.lattice.trainer.io.HalfFloats.bf16ToFloat;
import static dev.lattice.trainer.io.HalfFloats.f16ToFloat;
import static dev.lattice.trainer.io.HalfFloats.floatToBf16;
import static dev.lattice.trainer.io.HalfFloats.floatToF16;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HalfFloatsTest {

    private static void f16(int bits, float value) {
        assertEquals(value, f16ToFloat((short) bits), "f16 0x" + Integer.toHexString(bits) + " to float");
        assertEquals(bits, floatToF16(value) & 0xffff, "float " + value + " to f16");
    }

    private static void bf16(int bits, float value) {
        assertEquals(value, bf16ToFloat((short) bits), "bf16 0x" + Integer.toHexString(bits) + " to float");
        assertEquals(bits, floatToBf16(value) & 0xffff, "float " + value + " to bf16");
    }

    @Test
    void f16KnownValues() {
        f16(0x3c00, 1.0f);
        f16(0xc100, -2.5f);
        f16(0x7bff, 65504f);
        f16(0xfbff, -65504f);
        f16(0x0400, 0x1p-14f);         // smallest normal
        f16(0x0001, 0x1p-24f);         // smallest subnormal
        f16(0x03ff, 1023 * 0x1p-24f);  // largest subnormal
        f16(0x8001, -0x1p-24f);
        f16(0x0000, 0.0f);
        f16(0x8000, -0.0f);
        f16(0x7c00, Float.POSITIVE_INFINITY);
        f16(0xfc00, Float.NEGATIVE_INFINITY);
        f16(0x3555, 0.333251953125f);
        assertEquals(0x2e66, floatToF16(0.1f) & 0xffff);
        assertTrue(Float.isNaN(f16ToFloat((short) 0x7e00)));
        assertTrue(Float.isNaN(f16ToFloat((short) 0xfc01)));
        assertEquals(0x7e00, floatToF16(Float.NaN) & 0xffff);
        int nanBits = floatToF16(Float.intBitsToFloat(0x7f800001)) & 0xffff; // signalling NaN stays NaN
        assertTrue((nanBits & 0x7c00) == 0x7c00 && (nanBits & 0x3ff) != 0);
    }

    @Test
    void f16RoundsToNearestEven() {
        assertEquals(0x7bff, floatToF16(65519f) & 0xffff);
        assertEquals(0x7c00, floatToF16(65520f) & 0xffff);  // halfway to 65536: even is infinity
        assertEquals(0x7c00, floatToF16(1e10f) & 0xffff);
        assertEquals(0x3c00, floatToF16(1f + 0x1p-11f) & 0xffff);  // tie, down to even
        assertEquals(0x3c02, floatToF16(1f + 3 * 0x1p-11f) & 0xffff);  // tie, up to even
        assertEquals(0x3c01, floatToF16(1f + 0x1p-11f + 0x1p-20f) & 0xffff);
        assertEquals(0x0000, floatToF16(0x1p-25f) & 0xffff);  // tie between 0 and 2^-24
        assertEquals(0x0001, floatToF16(0x1.0002p-25f) & 0xffff);
        assertEquals(0x0002, floatToF16(3 * 0x1p-25f) & 0xffff);  // 1.5 ulp: to even 2
        assertEquals(0x0000, floatToF16(0x1p-26f) & 0xffff);
        assertEquals(0x8000, floatToF16(-1e-30f) & 0xffff);
        assertEquals(0x0400, floatToF16(0x1p-14f - 0x1p-26f) & 0xffff);  // rounds up out of subnormals
    }

    @Test
    void f16AllFiniteValuesRoundTrip() {
        for (int b = 0; b < 0x10000; b++) {
            if ((b & 0x7c00) == 0x7c00 && (b & 0x3ff) != 0) {
                assertTrue(Float.isNaN(f16ToFloat((short) b)));
                continue;
            }
            assertEquals(b, floatToF16(f16ToFloat((short) b)) & 0xffff, "bits 0x" + Integer.toHexString(b));
        }
    }

    @Test
    void f16MatchesBruteForceNearest() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int n = 0; n < 200_000; n++) {
            float x = Float.intBitsToFloat(rnd.nextInt(0x30000000, 0x47800001)); // 2^-31 .. 65536
            assertEquals(nearestF16(x), floatToF16(x) & 0xffff, "x = " + x);
        }
    }

    /** Reference: binary search over the ordered positive halves, ties to the even encoding. */
    private static int nearestF16(float x) {
        double v = x;
        if (v >= 65520.0) {
            return 0x7c00;
        }
        int lo = 0;
        int hi = 0x7bff;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (f16ToFloat((short) mid) <= v) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double dl = v - f16ToFloat((short) lo);
        double dh = f16ToFloat((short) hi) - v;
        if (dl < dh) {
            return lo;
        }
        if (dh < dl) {
            return hi;
        }
        return (lo & 1) == 0 ? lo : hi;
    }

    @Test
    void bf16KnownValues() {
        bf16(0x3f80, 1.0f);
        bf16(0xc020, -2.5f);
        bf16(0x0000, 0.0f);
        bf16(0x8000, -0.0f);
        bf16(0x7f80, Float.POSITIVE_INFINITY);
        bf16(0xff80, Float.NEGATIVE_INFINITY);
        bf16(0x0001, Float.intBitsToFloat(0x00010000));  // subnormal
        bf16(0x0080, Float.MIN_NORMAL);
        assertEquals(0x4780, floatToBf16(65504f) & 0xffff);  // 65504 rounds to 65536 in bf16
        assertEquals(65536f, bf16ToFloat(floatToBf16(65504f)));
        assertEquals(0x0001, floatToBf16(1e-40f) & 0xffff);
        assertEquals(0x7fc0, floatToBf16(Float.NaN) & 0xffff);
        assertTrue(Float.isNaN(bf16ToFloat(floatToBf16(Float.intBitsToFloat(0x7f800001)))));  // no rounding to Inf
        assertTrue(Float.isNaN(bf16ToFloat((short) 0x7fc0)));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(0x3f80, floatToBf16(Float.intBitsToFloat(0x3f808000)) & 0xffff);  // tie, to even
        assertEquals(0x3f82, floatToBf16(Float.intBitsToFloat(0x3f818000)) & 0xffff);  // tie, to even
        assertEquals(0x3f81, floatToBf16(Float.intBitsToFloat(0x3f808001)) & 0xffff);
        assertEquals(0x3f80, floatToBf16(Float.intBitsToFloat(0x3f807fff)) & 0xffff);
        assertEquals(0x7f80, floatToBf16(Float.MAX_VALUE) & 0xffff);  // overflow to infinity
        for (int b = 0; b < 0x10000; b++) {
            if ((b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0) {
                continue;
            }
            assertEquals(b, floatToBf16(bf16ToFloat((short) b)) & 0xffff);
        }
    }
}
