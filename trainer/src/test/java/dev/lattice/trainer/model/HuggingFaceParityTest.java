package dev.lattice.trainer.model;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.hf.HfModelDirectory;
import dev.lattice.trainer.hf.HfWeights;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.io.Safetensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity with HuggingFace transformers: tiny randomly initialised GPT2LMHeadModel and LlamaForCausalLM, saved with
 * their logits, loss and every parameter's gradient by {@code trainer/tools/make_hf_fixtures.py} (torch 2.11,
 * transformers 5.17, fp32, eager attention, on the GPU machine's CPU). Loaded through our HF importer, our model
 * must give the same logits, loss and gradients within 1e-4 relative.
 */
class HuggingFaceParityTest {

    private static Path fixture(String family) throws URISyntaxException {
        return Path.of(HuggingFaceParityTest.class.getResource("/dev/lattice/trainer/hf/fixtures/" + family)
                .toURI());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void logitsLossAndGradientsMatchTransformers(String family) throws Exception {
        checkParity(family, new CpuBackend());
    }

    /** The same parity on the GPU, with exact fp32 GEMMs (skipped where there is no CUDA device). */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void onCudaLogitsLossAndGradientsMatchTransformers(String family) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.lattice.parallel.cuda.Cuda.available(),
                dev.lattice.parallel.cuda.Cuda::unavailableReason);
        try (Backend be = new dev.lattice.trainer.backend.cuda.CudaBackend(0,
                dev.lattice.trainer.backend.cuda.GemmPrecision.FP32)) {
            checkParity(family, be);
        }
    }

    private static void checkParity(String family, Backend be) throws Exception {
        Path dir = fixture(family);
        HfModelDirectory.Loaded hf = HfModelDirectory.load(dir);
        ModelConfig c = hf.config();
        GptModel model = new GptModel(c, be, false);
        for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
            be.upload(e.getValue(), hf.tensors().get(e.getKey()).data());
        }
        Map<String, NamedTensor> expected = Safetensors.readAll(dir.resolve("expected.safetensors"));
        long[] ids;
        try (Safetensors st = Safetensors.open(dir.resolve("expected.safetensors"))) {
            ids = st.readLongs("input_ids");
        }
        int[] shape = expected.get("logits").shape();
        int b = shape[0];
        int t = shape[1];
        int vocab = shape[2];
        assertEquals(c.vocabSize(), vocab);
        // HF predicts token t+1 from position t; the last position of each row predicts nothing.
        int[] tokens = new int[b * t];
        int[] targets = new int[b * t];
        float[] mask = new float[b * t];
        for (int i = 0; i < b * t; i++) {
            tokens[i] = Math.toIntExact(ids[i]);
            boolean last = i % t == t - 1;
            targets[i] = last ? 0 : Math.toIntExact(ids[i + 1]);
            mask[i] = last ? 0f : 1f;
        }
        Batch batch = new Batch(tokens, targets, mask, b, t);
        model.zeroGradients();
        float[] losses = model.forward(batch);
        double loss = 0;
        float[] weights = new float[losses.length];
        double count = batch.maskedTokens();
        for (int i = 0; i < losses.length; i++) {
            loss += losses[i] * mask[i];
            weights[i] = (float) (mask[i] / count);
        }
        loss /= count;
        assertEquals(expected.get("loss").data()[0], loss, 1e-4 * Math.abs(loss), family + " loss");

        float[] logits = model.logits();
        float[] want = expected.get("logits").data();
        float[] got = new float[want.length];
        for (int r = 0; r < b * t; r++) {
            System.arraycopy(logits, r * c.paddedVocabSize(), got, r * vocab, vocab);
        }
        assertClose(family + " logits", want, got);

        model.backward(weights);
        Map<String, NamedTensor> hfGrads = new LinkedHashMap<>();
        for (Map.Entry<String, NamedTensor> e : expected.entrySet()) {
            if (e.getKey().startsWith("grad.")) {
                String name = e.getKey().substring("grad.".length());
                hfGrads.put(name, e.getValue().withName(name));
            }
        }
        Map<String, NamedTensor> wantGrads = HfWeights.toLattice(c, hfGrads);
        assertEquals(model.gradients().keySet(), wantGrads.keySet());
        for (Map.Entry<String, Tensor> e : model.gradients().entrySet()) {
            assertClose(family + " grad " + e.getKey(), wantGrads.get(e.getKey()).data(), be.toHost(e.getValue()));
        }
    }

    /** Relative error of the whole tensor (L2) and of every element against the tensor's scale, both ≤ 1e-4. */
    static void assertClose(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what + " size");
        double diff = 0;
        double norm = 0;
        double maxAbs = 0;
        for (float w : want) {
            maxAbs = Math.max(maxAbs, Math.abs(w));
        }
        for (int i = 0; i < want.length; i++) {
            double d = got[i] - want[i];
            diff += d * d;
            norm += (double) want[i] * want[i];
            assertTrue(Math.abs(d) <= 1e-4 * maxAbs + 1e-7, what + "[" + i + "]: " + got[i] + " vs " + want[i]);
        }
        assertTrue(Math.sqrt(diff) <= 1e-4 * Math.sqrt(norm) + 1e-7, what + ": relative error "
                + Math.sqrt(diff / Math.max(norm, 1e-30)));
    }
}
