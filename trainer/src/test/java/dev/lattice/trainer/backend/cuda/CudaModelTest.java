package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.optim.AdamW;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The whole model on the GPU against the CPU backend: a tiny GPT-2 and Llama, 20 AdamW steps each. With exact fp32
 * GEMMs the loss curves agree to 1e-3; with bf16 tensor-core GEMMs (fp32 master weights) within 0.05, the issue's
 * bf16 bound. Skipped without a CUDA device.
 */
class CudaModelTest {

    static ModelConfig config(String family) {
        return family.equals("gpt2")
                ? ModelConfig.gpt2(64, 2, 4, 211, 32).withPaddedVocab(256)
                : ModelConfig.llama(64, 2, 4, 2, 96, 211, 32).withPaddedVocab(256);
    }

    static Batch batch(int b, int t, int vocab, long seed) {
        Random r = new Random(seed);
        int[] tokens = new int[b * t];
        int[] targets = new int[b * t];
        float[] mask = new float[b * t];
        for (int i = 0; i < tokens.length; i++) {
            // a learnable pattern: the next token is a function of this one
            tokens[i] = r.nextInt(vocab);
            targets[i] = (tokens[i] * 7 + 3) % vocab;
            mask[i] = 1f;
        }
        return new Batch(tokens, targets, mask, b, t);
    }

    static double[] train(Backend be, String family, int steps) {
        ModelConfig c = config(family);
        try (GptModel m = new GptModel(c, be, false)) {
            m.initialize(42, 0.02);
            AdamW opt = new AdamW(be, m.specs(), m.parameters(), 0.9, 0.95, 1e-8, 0.1);
            double[] losses = new double[steps];
            for (int s = 0; s < steps; s++) {
                Batch b = batch(4, 32, c.vocabSize(), 100 + s);
                m.zeroGradients();
                float[] l = m.forward(b);
                double sum = 0;
                float[] w = new float[l.length];
                for (int i = 0; i < l.length; i++) {
                    sum += l[i];
                    w[i] = 1f / l.length;
                }
                losses[s] = sum / l.length;
                m.backward(w);
                Map<String, Tensor> grads = m.gradients();
                opt.step(m.parameters(), grads, 1e-3, AdamW.clipScale(AdamW.globalNorm(be, grads), 1.0));
            }
            return losses;
        }
    }

    @ParameterizedTest
    @CsvSource({"gpt2,FP32,0.001", "llama,FP32,0.001", "gpt2,BF16,0.05", "llama,BF16,0.05"})
    void twentyStepsFollowTheCpuLossCurve(String family, GemmPrecision precision, double tol) {
        assumeTrue(Cuda.available(), Cuda::unavailableReason);
        double[] want = train(new CpuBackend(), family, 20);
        double[] got;
        try (CudaBackend gpu = new CudaBackend(0, precision)) {
            got = train(gpu, family, 20);
        }
        for (int s = 0; s < want.length; s++) {
            assertEquals(want[s], got[s], tol, family + " " + precision + " loss at step " + (s + 1) + ": cpu "
                    + java.util.Arrays.toString(want) + "\ngpu " + java.util.Arrays.toString(got));
        }
        // it learned something, so the comparison is not between two flat curves
        org.junit.jupiter.api.Assertions.assertTrue(want[19] < want[0] - 0.3, java.util.Arrays.toString(want));
    }
}
