package dev.lattice.trainer.engine;

import dev.lattice.trainer.model.ModelConfig;

/** Megatron's {@code num_floating_point_operations} for a dense GPT (megatron-formats.md §5.3, causal attention). */
public final class Flops {

    private Flops() {
    }

    /** Training FLOPs (forward + backward) of one iteration over {@code samples} sequences of {@code seq} tokens. */
    public static double perIteration(ModelConfig c, long samples, int seq) {
        double b = samples;
        double s = seq;
        double h = c.hiddenSize();
        double q = (double) c.headDim() * c.numAttentionHeads();
        double k = (double) c.headDim() * c.numQueryGroups();
        double e = c.family() == ModelConfig.Family.LLAMA ? 3 : 2;
        double f = c.ffnHiddenSize();
        double l = c.numLayers();
        double v = c.paddedVocabSize();
        return 6 * b * s * (l * (e * h * f + 2 * h * q + 2 * h * k) + h * v) + 6 * b * s * s * l * q;
    }
}
