package dev.lattice.trainer.model;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A decoder-only transformer (GPT-2 or Llama, by {@link ModelConfig}) with explicit forward and backward passes on a
 * {@link Backend}, read top to bottom like llm.c's training step. Pre-norm blocks:
 * <pre>
 *   x = embed(tokens)                        (+ learned positions for GPT-2)
 *   per layer:  x = x + proj(attn(rope?(qkv(norm1(x)))))
 *               x = x + fc2(act(fc1(norm2(x))))   act = GELU (GPT-2) or SwiGLU (Llama)
 *   logits = output(normf(x))                (output = word embeddings when tied)
 * </pre>
 * {@link #forward} keeps what {@link #backward} needs; with full-layer recomputation only each layer's input is kept
 * and the layer is recomputed during the backward pass. Gradients accumulate across micro-batches until
 * {@link #zeroGradients}.
 */
public final class GptModel implements AutoCloseable {

    private final ModelConfig config;
    private final Backend be;
    private final ParameterLayout layout;
    private final boolean recompute;
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> grads = new LinkedHashMap<>();

    private Activations acts;
    private Batch batch;

    public GptModel(ModelConfig config, Backend backend, boolean recomputeActivations) {
        this.config = config;
        this.be = backend;
        this.layout = new ParameterLayout(config);
        this.recompute = recomputeActivations;
        for (ParameterLayout.Spec s : layout.specs()) {
            params.put(s.name(), be.zeros(s.shape()));
            grads.put(s.name(), be.zeros(s.shape()));
        }
    }

    public ModelConfig config() {
        return config;
    }

    public ParameterLayout layout() {
        return layout;
    }

    public Backend backend() {
        return be;
    }

    /** Parameters by name, in layout order. */
    public Map<String, Tensor> parameters() {
        return params;
    }

    /** Gradients by parameter name. */
    public Map<String, Tensor> gradients() {
        return grads;
    }

    /**
     * Megatron's initialisation: weights ~ normal(0, σ) with σ = {@code initStd} (0.02), output projections of each
     * layer (attention proj, fc2) with σ/√(2L), norm weights 1, biases 0. Each parameter draws from its own
     * stream split from {@code seed}, so the result does not depend on anything but the seed and the config.
     */
    public void initialize(long seed, double initStd) {
        SplittableRandom root = new SplittableRandom(seed);
        double scaled = initStd / Math.sqrt(2.0 * config.numLayers());
        for (ParameterLayout.Spec s : layout.specs()) {
            SplittableRandom rnd = root.split();
            float[] v = new float[Math.toIntExact(s.numel())];
            switch (s.init()) {
                case ONES -> java.util.Arrays.fill(v, 1f);
                case ZEROS -> { }
                case NORMAL, SCALED_NORMAL -> {
                    double std = s.init() == ParameterLayout.Init.NORMAL ? initStd : scaled;
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (gaussian(rnd) * std);
                    }
                }
            }
            if (s.name().equals(ParameterLayout.WORD_EMBEDDINGS) || s.name().equals(ParameterLayout.OUTPUT_LAYER)) {
                // Padding rows never produce a logit that counts; keep them zero.
                java.util.Arrays.fill(v, config.vocabSize() * config.hiddenSize(), v.length, 0f);
            }
            be.upload(params.get(s.name()), v);
        }
    }

    private static double gaussian(SplittableRandom r) {
        // Box-Muller on two uniforms in (0, 1]: deterministic and independent of java.util.Random's internals.
        double u1 = 1.0 - r.nextDouble();
        double u2 = r.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    public void zeroGradients() {
        for (Tensor g : grads.values()) {
            be.fill(g, 0f);
        }
    }

    private Tensor p(String name) {
        return params.get(name);
    }

    private Tensor g(String name) {
        return grads.get(name);
    }

    private Tensor outputWeight() {
        return config.tiedEmbeddings() ? p(ParameterLayout.WORD_EMBEDDINGS) : p(ParameterLayout.OUTPUT_LAYER);
    }

    private Tensor outputGrad() {
        return config.tiedEmbeddings() ? g(ParameterLayout.WORD_EMBEDDINGS) : g(ParameterLayout.OUTPUT_LAYER);
    }

    /**
     * Runs the forward pass and returns the per-token losses [B·T] (unmasked; the caller weights them). Keeps the
     * activations for {@link #backward}.
     */
    public float[] forward(Batch b) {
        if (b.seq() > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + b.seq() + " exceeds --max-position-embeddings "
                    + config.maxPositionEmbeddings());
        }
        checkTokens(b.tokens(), "input");
        checkTokens(b.targets(), "target");
        if (acts == null || acts.batch != b.batch() || acts.seq != b.seq()) {
            acts = new Activations(b.batch(), b.seq());
        }
        batch = b;
        Activations a = acts;
        be.embeddingForward(a.resid[0], b.tokens(), p(ParameterLayout.WORD_EMBEDDINGS),
                config.family() == ModelConfig.Family.GPT2 ? p(ParameterLayout.POSITION_EMBEDDINGS) : null,
                b.batch(), b.seq(), config.hiddenSize());
        for (int l = 0; l < config.numLayers(); l++) {
            layerForward(l, a.layer(l));
        }
        int n = a.rows;
        int h = config.hiddenSize();
        norm(a.lnf, a.meanf, a.rstdf, a.resid[config.numLayers()], ParameterLayout.FINAL_NORM, n, h);
        be.matmul(a.logits, a.lnf, false, outputWeight(), true, n, config.paddedVocabSize(), h, 1f, 0f);
        be.crossEntropyForward(a.losses, a.lse, a.logits, b.targets(), n, config.vocabSize(), config.paddedVocabSize());
        return be.toHost(a.losses);
    }

    private void checkTokens(int[] ids, String what) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new IllegalArgumentException(what + " token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
    }

    /** The logits of the last forward pass [B·T, padded vocab] (columns ≥ vocab are padding). */
    public float[] logits() {
        return be.toHost(acts.logits);
    }

    private void layerForward(int l, LayerActivations la) {
        Activations a = acts;
        int n = a.rows;
        int h = config.hiddenSize();
        int heads = config.numAttentionHeads();
        int groups = config.numQueryGroups();
        int d = config.headDim();
        Tensor x = a.resid[l];
        norm(la.ln1, la.mean1, la.rstd1, x, ParameterLayout.layer(l, "input_layernorm"), n, h);
        linear(la.qkv, la.ln1, l, "self_attention.linear_qkv", n, h, config.qkvSize());
        if (config.family() == ModelConfig.Family.LLAMA) {
            be.ropeForward(la.qkv, a.batch, a.seq, heads, groups, d, config.ropeTheta());
        }
        be.attentionForward(la.att, la.lse, la.qkv, a.batch, a.seq, heads, groups, d);
        linear(la.attProj, la.att, l, "self_attention.linear_proj", n, heads * d, h);
        be.add(la.resid2, x, la.attProj);
        norm(la.ln2, la.mean2, la.rstd2, la.resid2, ParameterLayout.layer(l, "pre_mlp_layernorm"), n, h);
        linear(la.fc1, la.ln2, l, "mlp.linear_fc1", n, h, config.fc1Size());
        if (config.family() == ModelConfig.Family.LLAMA) {
            be.swigluForward(la.act, la.fc1, n, config.ffnHiddenSize());
        } else {
            be.geluForward(la.act, la.fc1);
        }
        linear(la.fc2, la.act, l, "mlp.linear_fc2", n, config.ffnHiddenSize(), h);
        be.add(a.resid[l + 1], la.resid2, la.fc2);
    }

    private void norm(Tensor out, Tensor mean, Tensor rstd, Tensor inp, String prefix, int n, int h) {
        if (config.family() == ModelConfig.Family.GPT2) {
            be.layerNormForward(out, mean, rstd, inp, p(prefix + ".weight"), p(prefix + ".bias"), n, h,
                    config.normEpsilon());
        } else {
            be.rmsNormForward(out, rstd, inp, p(prefix + ".weight"), n, h, config.normEpsilon());
        }
    }

    private void normBackward(Tensor dinp, Tensor dout, Tensor inp, Tensor mean, Tensor rstd, String prefix, int n,
                              int h) {
        if (config.family() == ModelConfig.Family.GPT2) {
            be.layerNormBackward(dinp, g(prefix + ".weight"), g(prefix + ".bias"), dout, inp, p(prefix + ".weight"),
                    mean, rstd, n, h);
        } else {
            be.rmsNormBackward(dinp, g(prefix + ".weight"), dout, inp, p(prefix + ".weight"), rstd, n, h);
        }
    }

    private void linear(Tensor out, Tensor inp, int l, String name, int n, int in, int outDim) {
        String prefix = ParameterLayout.layer(l, name);
        be.matmul(out, inp, false, p(prefix + ".weight"), true, n, outDim, in, 1f, 0f);
        if (config.biases()) {
            be.addBias(out, p(prefix + ".bias"), n, outDim);
        }
    }

    /** dinp += dout·W; dW += doutᵀ·inp; db += Σ dout. */
    private void linearBackward(Tensor dinp, Tensor dout, Tensor inp, int l, String name, int n, int in, int outDim) {
        String prefix = ParameterLayout.layer(l, name);
        be.matmul(dinp, dout, false, p(prefix + ".weight"), false, n, in, outDim, 1f, 1f);
        be.matmul(g(prefix + ".weight"), dout, true, inp, false, outDim, in, n, 1f, 1f);
        if (config.biases()) {
            be.biasBackward(g(prefix + ".bias"), dout, n, outDim);
        }
    }

    /**
     * Back-propagates the loss {@code Σ_i lossWeights[i] · loss_i} of the last forward pass into the gradients
     * (accumulating). For a token-averaged loss over a global batch, the weight is mask / tokens-in-the-batch.
     */
    public void backward(float[] lossWeights) {
        Activations a = acts;
        if (a == null || batch == null) {
            throw new IllegalStateException("backward without a forward pass");
        }
        int n = a.rows;
        int h = config.hiddenSize();
        be.crossEntropyBackward(a.dlogits, a.logits, a.lse, batch.targets(), lossWeights, n, config.vocabSize(),
                config.paddedVocabSize());
        // logits = lnf · Woutᵀ
        be.fill(a.dlnf, 0f);
        be.matmul(a.dlnf, a.dlogits, false, outputWeight(), false, n, h, config.paddedVocabSize(), 1f, 1f);
        be.matmul(outputGrad(), a.dlogits, true, a.lnf, false, config.paddedVocabSize(), h, n, 1f, 1f);
        be.fill(a.dresid, 0f);
        normBackward(a.dresid, a.dlnf, a.resid[config.numLayers()], a.meanf, a.rstdf, ParameterLayout.FINAL_NORM, n,
                h);
        for (int l = config.numLayers() - 1; l >= 0; l--) {
            LayerActivations la = a.layer(l);
            if (recompute) {
                layerForward(l, la);
            }
            layerBackward(l, la);
        }
        be.embeddingBackward(g(ParameterLayout.WORD_EMBEDDINGS),
                config.family() == ModelConfig.Family.GPT2 ? g(ParameterLayout.POSITION_EMBEDDINGS) : null,
                a.dresid, batch.tokens(), a.batch, a.seq, h);
    }

    /** On entry a.dresid = dL/d(layer output); on exit dL/d(layer input). */
    private void layerBackward(int l, LayerActivations la) {
        Activations a = acts;
        int n = a.rows;
        int h = config.hiddenSize();
        int heads = config.numAttentionHeads();
        int groups = config.numQueryGroups();
        int d = config.headDim();
        int ffn = config.ffnHiddenSize();
        Tensor dres = a.dresid;
        // MLP branch: out = resid2 + fc2(act(fc1(ln2(resid2))))
        be.fill(a.dact, 0f);
        linearBackward(a.dact, dres, la.act, l, "mlp.linear_fc2", n, ffn, h);
        if (config.family() == ModelConfig.Family.LLAMA) {
            be.swigluBackward(a.dfc1, la.fc1, a.dact, n, ffn);
        } else {
            be.fill(a.dfc1, 0f);
            be.geluBackward(a.dfc1, la.fc1, a.dact);
        }
        be.fill(a.dln, 0f);
        linearBackward(a.dln, a.dfc1, la.ln2, l, "mlp.linear_fc1", n, h, config.fc1Size());
        normBackward(dres, a.dln, la.resid2, la.mean2, la.rstd2, ParameterLayout.layer(l, "pre_mlp_layernorm"), n, h);
        // Attention branch: resid2 = x + proj(attn(qkv(ln1(x))))
        be.fill(a.datt, 0f);
        linearBackward(a.datt, dres, la.att, l, "self_attention.linear_proj", n, heads * d, h);
        be.attentionBackward(a.dqkv, a.datt, la.qkv, la.att, la.lse, a.batch, a.seq, heads, groups, d);
        if (config.family() == ModelConfig.Family.LLAMA) {
            be.ropeBackward(a.dqkv, a.batch, a.seq, heads, groups, d, config.ropeTheta());
        }
        be.fill(a.dln, 0f);
        linearBackward(a.dln, a.dqkv, la.ln1, l, "self_attention.linear_qkv", n, h, config.qkvSize());
        normBackward(dres, a.dln, a.resid[l], la.mean1, la.rstd1, ParameterLayout.layer(l, "input_layernorm"), n, h);
    }

    /** Activations of one layer. */
    private final class LayerActivations {
        final Tensor ln1;
        final Tensor mean1;
        final Tensor rstd1;
        final Tensor qkv;
        final Tensor att;
        final Tensor lse;
        final Tensor attProj;
        final Tensor resid2;
        final Tensor ln2;
        final Tensor mean2;
        final Tensor rstd2;
        final Tensor fc1;
        final Tensor act;
        final Tensor fc2;

        LayerActivations(int b, int t) {
            int n = b * t;
            int h = config.hiddenSize();
            ln1 = be.zeros(n, h);
            mean1 = be.zeros(n);
            rstd1 = be.zeros(n);
            qkv = be.zeros(n, config.qkvSize());
            att = be.zeros(n, config.numAttentionHeads() * config.headDim());
            lse = be.zeros(b * config.numAttentionHeads() * t);
            attProj = be.zeros(n, h);
            resid2 = be.zeros(n, h);
            ln2 = be.zeros(n, h);
            mean2 = be.zeros(n);
            rstd2 = be.zeros(n);
            fc1 = be.zeros(n, config.fc1Size());
            act = be.zeros(n, config.ffnHiddenSize());
            fc2 = be.zeros(n, h);
        }
    }

    /** All activations and backward scratch for one micro-batch shape. */
    private final class Activations {
        final int batch;
        final int seq;
        final int rows;
        final Tensor[] resid;
        final LayerActivations[] layers;
        final Tensor lnf;
        final Tensor meanf;
        final Tensor rstdf;
        final Tensor logits;
        final Tensor losses;
        final Tensor lse;
        final Tensor dlogits;
        final Tensor dlnf;
        final Tensor dresid;
        final Tensor dln;
        final Tensor dqkv;
        final Tensor datt;
        final Tensor dfc1;
        final Tensor dact;

        Activations(int b, int t) {
            batch = b;
            seq = t;
            rows = b * t;
            int h = config.hiddenSize();
            int layersCount = config.numLayers();
            resid = new Tensor[layersCount + 1];
            for (int i = 0; i <= layersCount; i++) {
                resid[i] = be.zeros(rows, h);
            }
            // With recomputation one set of layer activations is reused by every layer.
            layers = new LayerActivations[recompute ? 1 : layersCount];
            for (int i = 0; i < layers.length; i++) {
                layers[i] = new LayerActivations(b, t);
            }
            lnf = be.zeros(rows, h);
            meanf = be.zeros(rows);
            rstdf = be.zeros(rows);
            logits = be.zeros(rows, config.paddedVocabSize());
            losses = be.zeros(rows);
            lse = be.zeros(rows);
            dlogits = be.zeros(rows, config.paddedVocabSize());
            dlnf = be.zeros(rows, h);
            dresid = be.zeros(rows, h);
            dln = be.zeros(rows, h);
            dqkv = be.zeros(rows, config.qkvSize());
            datt = be.zeros(rows, config.numAttentionHeads() * config.headDim());
            dfc1 = be.zeros(rows, config.fc1Size());
            dact = be.zeros(rows, config.ffnHiddenSize());
        }

        LayerActivations layer(int l) {
            return layers[recompute ? 0 : l];
        }
    }

    @Override
    public void close() {
        acts = null;
    }
}
