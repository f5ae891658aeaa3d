package dev.lattice.trainer.model;

/**
 * One configuration for both model families (Megatron's names in comments).
 *
 * <ul>
 *   <li>GPT-2: learned positions, LayerNorm, GELU (tanh), biases, tied embeddings.</li>
 *   <li>Llama: RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases, untied embeddings.</li>
 * </ul>
 *
 * @param hiddenSize            {@code --hidden-size} h
 * @param numLayers             {@code --num-layers} L
 * @param numAttentionHeads     {@code --num-attention-heads} H
 * @param numQueryGroups        {@code --num-query-groups} G (= H without GQA)
 * @param ffnHiddenSize         {@code --ffn-hidden-size} F
 * @param vocabSize             the tokenizer's vocabulary V
 * @param paddedVocabSize       V rounded up for speed; logits of the padding columns are masked out
 * @param maxPositionEmbeddings {@code --max-position-embeddings}
 * @param normEpsilon           LayerNorm / RMSNorm epsilon
 * @param ropeTheta             RoPE base (Llama)
 * @param tiedEmbeddings        output layer shares the word embeddings
 * @param biases                linear layers (and LayerNorm) have biases
 */
public record ModelConfig(Family family, int hiddenSize, int numLayers, int numAttentionHeads, int numQueryGroups,
                          int ffnHiddenSize, int vocabSize, int paddedVocabSize, int maxPositionEmbeddings,
                          float normEpsilon, float ropeTheta, boolean tiedEmbeddings, boolean biases) {

    /** The two architectures. */
    public enum Family {
        GPT2, LLAMA
    }

    /** Megatron's default {@code --make-vocab-size-divisible-by}. */
    public static final int VOCAB_DIVISOR = 128;

    public ModelConfig {
        validate(family, hiddenSize, numLayers, numAttentionHeads, numQueryGroups, ffnHiddenSize, vocabSize,
                paddedVocabSize, maxPositionEmbeddings);
    }

    private static void validate(Family family, int h, int layers, int heads, int groups, int ffn, int vocab,
                                 int padded, int positions) {
        if (family == null) {
            throw new IllegalArgumentException("model family is required (gpt2 or llama)");
        }
        positive("--hidden-size", h);
        positive("--num-layers", layers);
        positive("--num-attention-heads", heads);
        positive("--num-query-groups", groups);
        positive("--ffn-hidden-size", ffn);
        positive("vocabulary size", vocab);
        positive("--max-position-embeddings", positions);
        if (h % heads != 0) {
            throw new IllegalArgumentException("--num-attention-heads " + heads + " does not divide --hidden-size "
                    + h);
        }
        if (heads % groups != 0) {
            throw new IllegalArgumentException("--num-query-groups " + groups
                    + " does not divide --num-attention-heads " + heads);
        }
        if (padded < vocab) {
            throw new IllegalArgumentException("padded vocabulary " + padded + " is smaller than the vocabulary "
                    + vocab);
        }
    }

    private static void positive(String flag, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(flag + " must be positive, got " + v);
        }
    }

    /** Per-head size d = h / H (Megatron's kv_channels). */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Rows of the fused QKV projection: (H + 2G)·d. */
    public int qkvSize() {
        return (numAttentionHeads + 2 * numQueryGroups) * headDim();
    }

    /** Rows of the first MLP projection: F for GELU, 2F (gate and up) for SwiGLU. */
    public int fc1Size() {
        return family == Family.LLAMA ? 2 * ffnHiddenSize : ffnHiddenSize;
    }

    /** V rounded up to a multiple of {@code divisor} (Megatron: 128 × tensor-parallel size). */
    public static int padVocab(int vocab, int divisor) {
        return (vocab + divisor - 1) / divisor * divisor;
    }

    /** GPT-2 with Megatron's defaults: F = 4h, tied embeddings, biases, LayerNorm eps 1e-5. */
    public static ModelConfig gpt2(int hidden, int layers, int heads, int vocab, int positions) {
        return new ModelConfig(Family.GPT2, hidden, layers, heads, heads, 4 * hidden, vocab,
                padVocab(vocab, VOCAB_DIVISOR), positions, 1e-5f, 10000f, true, true);
    }

    /** Llama: SwiGLU with the given F, GQA with G groups, RMSNorm eps 1e-5, theta 10000, untied, no biases. */
    public static ModelConfig llama(int hidden, int layers, int heads, int groups, int ffn, int vocab,
                                    int positions) {
        return new ModelConfig(Family.LLAMA, hidden, layers, heads, groups, ffn, vocab,
                padVocab(vocab, VOCAB_DIVISOR), positions, 1e-5f, 10000f, false, false);
    }

    public ModelConfig withPaddedVocab(int padded) {
        return new ModelConfig(family, hiddenSize, numLayers, numAttentionHeads, numQueryGroups, ffnHiddenSize,
                vocabSize, padded, maxPositionEmbeddings, normEpsilon, ropeTheta, tiedEmbeddings, biases);
    }

    public ModelConfig withNorm(float eps) {
        return new ModelConfig(family, hiddenSize, numLayers, numAttentionHeads, numQueryGroups, ffnHiddenSize,
                vocabSize, paddedVocabSize, maxPositionEmbeddings, eps, ropeTheta, tiedEmbeddings, biases);
    }

    public ModelConfig withRopeTheta(float theta) {
        return new ModelConfig(family, hiddenSize, numLayers, numAttentionHeads, numQueryGroups, ffnHiddenSize,
                vocabSize, paddedVocabSize, maxPositionEmbeddings, normEpsilon, theta, tiedEmbeddings, biases);
    }

    public ModelConfig withTiedEmbeddings(boolean tied) {
        return new ModelConfig(family, hiddenSize, numLayers, numAttentionHeads, numQueryGroups, ffnHiddenSize,
                vocabSize, paddedVocabSize, maxPositionEmbeddings, normEpsilon, ropeTheta, tied, biases);
    }
}
