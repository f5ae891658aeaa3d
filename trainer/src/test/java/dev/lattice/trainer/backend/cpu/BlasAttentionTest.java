package dev.lattice.trainer.backend.cpu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The BLAS attention against the scalar reference kernel (itself checked against fp64 finite differences). */
class BlasAttentionTest {

    @ParameterizedTest
    @CsvSource({"2, 7, 4, 2, 8", "1, 33, 4, 4, 16", "3, 5, 6, 1, 4"})
    void matchesTheScalarReference(int b, int t, int h, int g, int d) {
        Random r = new Random(b * 100 + t);
        int row = QkvLayout.rowSize(h, g, d);
        float[] qkv = new float[b * t * row];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = (float) r.nextGaussian();
        }
        float[] dout = new float[b * t * h * d];
        for (int i = 0; i < dout.length; i++) {
            dout[i] = (float) r.nextGaussian();
        }
        float[] outRef = new float[dout.length];
        float[] lseRef = new float[b * h * t];
        AttentionKernels.forward(outRef, lseRef, qkv, b, t, h, g, d);
        float[] out = new float[dout.length];
        float[] lse = new float[b * h * t];
        BlasAttention.forward(out, lse, qkv, b, t, h, g, d);
        close("out", outRef, out);
        close("lse", lseRef, lse);
        float[] dRef = new float[qkv.length];
        AttentionKernels.backward(dRef, dout, qkv, outRef, lseRef, b, t, h, g, d);
        float[] dq = new float[qkv.length];
        java.util.Arrays.fill(dq, 42f); // every element must be overwritten
        BlasAttention.backward(dq, dout, qkv, out, lse, b, t, h, g, d);
        close("dqkv", dRef, dq);
    }

    private static void close(String what, float[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - got[i]) <= 2e-5 * (1 + Math.abs(want[i])),
                    what + "[" + i + "]: " + got[i] + " vs " + want[i]);
        }
    }
}
