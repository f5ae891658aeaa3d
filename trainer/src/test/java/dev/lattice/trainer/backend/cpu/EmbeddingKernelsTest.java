package dev.lattice.trainer.backend.cpu;

import static dev.lattice.trainer.backend.cpu.KernelTestUtil.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class EmbeddingKernelsTest {

    static final int B = 2, T = 5, C = 16, VP = 16, P = 7;

    static double[] ref(int[] tokens, double[] wte, double[] wpe) {
        double[] out = new double[B * T * C];
        for (int n = 0; n < B * T; n++) {
            for (int c = 0; c < C; c++) {
                out[n * C + c] = wte[tokens[n] * C + c] + (wpe == null ? 0 : wpe[(n % T) * C + c]);
            }
        }
        return out;
    }

    @Test
    void forwardAndBackwardMatchFiniteDifferences() {
        Random r = new Random(51);
        int[] tokens = {3, 7, 3, 0, 15, 7, 7, 1, 2, 3}; // repeats exercise accumulation
        float[] wte = randn(r, VP * C, 1.0);
        float[] wpe = randn(r, P * C, 1.0);
        float[] out = nanFilled(B * T * C);
        EmbeddingKernels.forward(out, tokens, wte, wpe, B, T, C);
        double[] wted = toDouble(wte);
        double[] wped = toDouble(wpe);
        assertForward("emb", ref(tokens, wted, wped), out);

        float[] rr = randn(r, B * T * C, 1.0);
        double[] rd = toDouble(rr);
        float[] dwte0 = randn(r, VP * C, 1.0);
        float[] dwpe0 = randn(r, P * C, 1.0);
        float[] dwte = dwte0.clone();
        float[] dwpe = dwpe0.clone();
        EmbeddingKernels.backward(dwte, dwpe, rr, tokens, B, T, C);
        KernelTestUtil.Loss loss = () -> dot(ref(tokens, wted, wped), rd);
        assertGrad("dwte", numGrad(wted, loss), delta(dwte, dwte0));
        assertGrad("dwpe", numGrad(wped, loss), delta(dwpe, dwpe0));
    }

    @Test
    void withoutPositionEmbedding() {
        Random r = new Random(52);
        int[] tokens = {1, 2, 3, 4, 5, 5, 4, 3, 2, 1};
        float[] wte = randn(r, VP * C, 1.0);
        float[] out = new float[B * T * C];
        EmbeddingKernels.forward(out, tokens, wte, null, B, T, C);
        assertForward("emb no wpe", ref(tokens, toDouble(wte), null), out);
        float[] dwte = new float[VP * C];
        float[] dout = randn(r, B * T * C, 1.0);
        EmbeddingKernels.backward(dwte, null, dout, tokens, B, T, C);
        // token 5 appears at rows 4 and 5
        assertEquals(dout[4 * C] + dout[5 * C], dwte[5 * C]);
        assertEquals(0f, dwte[0]);
    }

    @Test
    void outOfRangeTokenThrows() {
        int[] tokens = {1, 2, 3, 4, 5, 6, 7, 16, 2, 1};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingKernels.forward(new float[B * T * C], tokens, new float[VP * C], null, B, T, C));
        assertTrue(e.getMessage().contains("row 7") && e.getMessage().contains("id 16"), e.getMessage());
        int[] neg = {1, 2, -4, 4, 5, 6, 7, 8, 2, 1};
        e = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingKernels.backward(new float[VP * C], null, new float[B * T * C], neg, B, T, C));
        assertTrue(e.getMessage().contains("row 2") && e.getMessage().contains("id -4"), e.getMessage());
    }
}
