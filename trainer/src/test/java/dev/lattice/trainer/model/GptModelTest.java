package dev.lattice.trainer.model;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GptModelTest {

    static ModelConfig tiny(String family) {
        return family.equals("gpt2")
                ? ModelConfig.gpt2(16, 2, 4, 37, 12).withPaddedVocab(40)
                : ModelConfig.llama(16, 2, 4, 2, 24, 37, 12).withPaddedVocab(40);
    }

    static Batch batch(int b, int t, int vocab, long seed) {
        Random r = new Random(seed);
        int[] tokens = new int[b * t];
        int[] targets = new int[b * t];
        float[] mask = new float[b * t];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = r.nextInt(vocab);
            targets[i] = r.nextInt(vocab);
            mask[i] = i % 7 == 3 ? 0f : 1f;
        }
        return new Batch(tokens, targets, mask, b, t);
    }

    /** Σ mask·loss / Σ mask in double. */
    static double loss(GptModel m, Batch b) {
        float[] l = m.forward(b);
        double s = 0;
        for (int i = 0; i < l.length; i++) {
            s += l[i] * b.lossMask()[i];
        }
        return s / b.maskedTokens();
    }

    /** The tiny GPT-2 on {@code be}, initialized from {@code seed}. */
    static GptModel initialized(Backend be, boolean recompute, long seed) {
        GptModel m = new GptModel(tiny("gpt2"), be, recompute);
        m.initialize(seed, 0.02);
        return m;
    }

    static float[] weights(Batch b) {
        float[] w = new float[b.lossMask().length];
        double n = b.maskedTokens();
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (b.lossMask()[i] / n);
        }
        return w;
    }

    /**
     * The analytic gradient of every parameter tensor against central differences of the whole model's loss at a few
     * positions per tensor (fp32 forward, so a loose tolerance; each layer is checked in fp64 in the kernel tests).
     */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void wholeModelGradientsMatchFiniteDifferences(String family) {
        Backend be = new CpuBackend();
        GptModel m = new GptModel(tiny(family), be, false);
        m.initialize(7, 0.2);
        Batch b = batch(2, 6, 37, 11);
        m.zeroGradients();
        loss(m, b);
        m.backward(weights(b));
        Random r = new Random(5);
        for (Map.Entry<String, Tensor> e : m.parameters().entrySet()) {
            float[] g = be.toHost(m.gradients().get(e.getKey()));
            float[] p = be.toHost(e.getValue());
            for (int trial = 0; trial < 4; trial++) {
                int i = largestOrRandom(g, r, trial);
                float orig = p[i];
                double h = 1e-2;
                p[i] = (float) (orig + h);
                be.upload(e.getValue(), p);
                double up = loss(m, b);
                p[i] = (float) (orig - h);
                be.upload(e.getValue(), p);
                double down = loss(m, b);
                p[i] = orig;
                be.upload(e.getValue(), p);
                double fd = (up - down) / (2 * h);
                assertEquals(fd, g[i], 2e-3 + 3e-2 * Math.abs(fd), family + " " + e.getKey() + "[" + i + "]");
            }
        }
    }

    private static int largestOrRandom(float[] g, Random r, int trial) {
        if (trial == 0) {
            int best = 0;
            for (int i = 1; i < g.length; i++) {
                if (Math.abs(g[i]) > Math.abs(g[best])) {
                    best = i;
                }
            }
            return best;
        }
        return r.nextInt(g.length);
    }

    /**
     * zeroGradients leaves the weight matrices' gradients stale for their first product to overwrite: after a step
     * whose gradients were all NaN, two micro-batches give bit for bit the gradients of a model whose accumulators
     * start at zero and only ever add (as constructed, without zeroGradients).
     */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void staleGradientsAreOverwrittenNotAddedTo(String family) {
        Batch b1 = batch(2, 5, 37, 3);
        Batch b2 = batch(2, 5, 37, 4);
        java.util.Map<String, float[]> reference = null;
        for (boolean poisoned : new boolean[] {false, true}) {
            Backend be = new CpuBackend();
            GptModel m = new GptModel(tiny(family), be, false);
            m.initialize(1, 0.02);
            if (poisoned) {
                m.gradients().values().forEach(g -> be.fill(g, Float.NaN));
                m.zeroGradients();
            }
            java.util.Map<String, float[]> grads = twoMicrobatchGradients(m, be, b1, b2);
            if (reference == null) {
                reference = grads;
            } else {
                assertSameGradients(reference, grads);
            }
        }
    }

    /** Forward and backward of two micro-batches, then the gradients on the host. */
    private static java.util.Map<String, float[]> twoMicrobatchGradients(GptModel m, Backend be, Batch b1, Batch b2) {
        loss(m, b1);
        m.backward(weights(b1));
        loss(m, b2);
        m.backward(weights(b2));
        m.finishGradients();
        java.util.Map<String, float[]> grads = new java.util.LinkedHashMap<>();
        m.gradients().forEach((name, g) -> grads.put(name, be.toHost(g)));
        return grads;
    }

    private static void assertSameGradients(java.util.Map<String, float[]> want, java.util.Map<String, float[]> got) {
        for (String name : want.keySet()) {
            assertArrayEquals(want.get(name), got.get(name), name);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void firstLayerWeightGradientsMadeAfterTheEmbeddingBackwardAreTheSame(String family) {
        Batch b1 = batch(2, 5, 37, 3);
        Batch b2 = batch(2, 5, 37, 4);
        java.util.Map<String, float[]> plain = null;
        for (boolean defer : new boolean[] {false, true}) {
            Backend be = new CpuBackend();
            GptModel m = new GptModel(tiny(family), be, false).deferFirstLayerWeightGradients(defer);
            m.initialize(1, 0.02);
            java.util.List<String> reported = new java.util.ArrayList<>();
            m.onGradientsAccumulated((names, passes) -> reported.addAll(names));
            m.zeroGradients();
            java.util.Map<String, float[]> grads = twoMicrobatchGradients(m, be, b1, b2);
            // when each parameter was reported final (the last report of the second backward pass)
            int layer0 = reported.lastIndexOf(ParameterLayout.layer(0, "self_attention.linear_qkv.weight"));
            int embeddings = reported.lastIndexOf(ParameterLayout.WORD_EMBEDDINGS);
            assertTrue(layer0 >= 0 && embeddings >= 0, reported.toString());
            assertEquals(defer, layer0 > embeddings, "layer 0 reported after the embeddings: " + reported);
            assertEquals(2 * m.specs().size(), reported.size(), "every parameter reported once a pass");
            if (plain == null) {
                plain = grads;
            } else {
                assertSameGradients(plain, grads);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void recomputationGivesIdenticalGradients(String family) {
        Batch b = batch(2, 5, 37, 3);
        java.util.Map<String, float[]> kept = null;
        long keptBytes = 0;
        for (Recomputation r : Recomputation.values()) { // NONE first: the reference
            Backend be = new CpuBackend();
            GptModel m = new GptModel(tiny(family), be, r);
            m.initialize(1, 0.02);
            m.zeroGradients();
            loss(m, b);
            m.backward(weights(b));
            java.util.Map<String, float[]> grads = new java.util.LinkedHashMap<>();
            m.gradients().forEach((name, g) -> grads.put(name, be.toHost(g)));
            if (kept == null) {
                kept = grads;
                keptBytes = m.activationBytes();
                continue;
            }
            for (String name : kept.keySet()) {
                assertArrayEquals(kept.get(name), grads.get(name), r + ": " + name);
            }
            assertTrue(m.activationBytes() < keptBytes, r + " holds fewer activations than NONE");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void tinyModelOverfitsOneBatch(String family) {
        Backend be = new CpuBackend();
        GptModel m = new GptModel(tiny(family), be, false);
        m.initialize(3, 0.02);
        dev.lattice.trainer.optim.AdamW adam = new dev.lattice.trainer.optim.AdamW(be, m.layout().specs(), 0.9,
                0.95, 1e-8, 0.0);
        Batch b = batch(2, 8, 37, 9);
        double first = 0;
        double last = 0;
        for (int step = 0; step < 150; step++) {
            m.zeroGradients();
            last = loss(m, b);
            if (step == 0) {
                first = last;
            }
            m.backward(weights(b));
            adam.step(m.parameters(), m.gradients(), 1e-2);
        }
        assertTrue(first > 3.0, "starts near ln(37): " + first);
        assertTrue(last < 0.05, family + " memorises the batch: loss " + last);
    }

    /**
     * forward(b, w) computes the loss's gradient in the forward pass (crossEntropyForwardBackward): the same losses
     * and bit-identical gradients as forward(b) then backward(w), with and without recomputation; a backward pass
     * with other weights is refused (the logits are gone).
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void lossGradientInTheForwardPassChangesNothing(boolean recompute) {
        int[] fusedCalls = {0};
        CpuBackend cpu = new CpuBackend();
        Backend counting = (Backend) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, m, args) -> {
                    if (m.getName().equals("crossEntropyForwardBackward")) {
                        fusedCalls[0]++;
                    }
                    try {
                        return m.invoke(cpu, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        GptModel apart = initialized(cpu, recompute, 3);
        GptModel fused = initialized(counting, recompute, 3);
        Batch b = batch(2, 6, 37, 4);
        float[] w = weights(b);
        assertArrayEquals(apart.forward(b), fused.forward(b, w));
        apart.backward(w);
        fused.backward(w);
        assertEquals(1, fusedCalls[0]);
        for (String name : apart.gradients().keySet()) {
            assertArrayEquals(cpu.toHost(apart.gradients().get(name)), cpu.toHost(fused.gradients().get(name)),
                    name);
        }
        fused.forward(b, w);
        assertThrows(IllegalStateException.class, fused::logits, "a fused forward pass keeps no logits");
        float[] other = w.clone();
        other[0] *= 2;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fused.backward(other));
        assertTrue(e.getMessage().contains("other loss weights"), e.getMessage());
    }

    /**
     * The head in chunks of rows (-Dlattice.headChunkRows=5 on 12 rows: chunks of 5, 5, 2): the same losses and
     * gradients as the whole head at once, but for the order in which the output weight's gradient sums the chunks.
     */
    @Test
    void headInChunksOfRowsGivesTheWholeHeadsGradients() {
        CpuBackend cpu = new CpuBackend();
        GptModel whole = initialized(cpu, false, 5);
        GptModel chunked = initialized(cpu, false, 5);
        Batch b = batch(2, 6, 37, 6);
        float[] w = weights(b);
        float[] losses = whole.forward(b);
        whole.backward(w);
        System.setProperty("lattice.headChunkRows", "5");
        try {
            assertArrayEquals(losses, chunked.forward(b, w));
            chunked.backward(w);
        } finally {
            System.clearProperty("lattice.headChunkRows");
        }
        for (String name : whole.gradients().keySet()) {
            float[] want = cpu.toHost(whole.gradients().get(name));
            float[] got = cpu.toHost(chunked.gradients().get(name));
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-6 + 1e-5 * Math.abs(want[i]), name + "[" + i + "]");
            }
        }
    }

    @Test
    void paddedLogitColumnsNeverMatter() {
        Backend be = new CpuBackend();
        GptModel m = new GptModel(tiny("gpt2"), be, false);
        m.initialize(2, 0.02);
        Batch b = batch(1, 4, 37, 1);
        double before = loss(m, b);
        float[] wte = be.toHost(m.parameters().get(ParameterLayout.WORD_EMBEDDINGS));
        for (int i = 37 * 16; i < wte.length; i++) {
            wte[i] = 100f; // padding rows: huge logits if they were not masked
        }
        be.upload(m.parameters().get(ParameterLayout.WORD_EMBEDDINGS), wte);
        assertEquals(before, loss(m, b), 1e-6);
    }

    @Test
    void tokenOutsideTheVocabularyIsNamed() {
        GptModel m = new GptModel(tiny("gpt2"), new CpuBackend(), false);
        Batch b = new Batch(new int[] {1, 37}, new int[] {1, 2}, new float[] {1, 1}, 1, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(b));
        assertTrue(e.getMessage().contains("token id 37"), e.getMessage());
    }

    @Test
    void inconsistentConfigsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> ModelConfig.gpt2(30, 2, 4, 50, 8),
                "heads must divide hidden");
        IllegalArgumentException groups = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.llama(32, 2, 4, 3, 48, 50, 8));
        assertTrue(groups.getMessage().contains("--num-query-groups 3"), groups.getMessage());
        GptModel m = new GptModel(ModelConfig.gpt2(16, 1, 4, 37, 4), new CpuBackend(), false);
        IllegalArgumentException seq = assertThrows(IllegalArgumentException.class,
                () -> m.forward(batch(1, 5, 37, 1)));
        assertTrue(seq.getMessage().contains("--max-position-embeddings"), seq.getMessage());
    }
}
