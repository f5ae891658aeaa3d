package dev.lattice.trainer.model;

/**
 * What a layer's backward pass recomputes instead of keeping from its forward pass, Megatron's
 * {@code --recompute-granularity}. Attention's probabilities are never kept (its backward recomputes them from the
 * log-sum-exps, as FlashAttention does), so Megatron's selective "core attention" recomputation is always on.
 */
public enum Recomputation {
    /** Keep every activation the backward pass reads: the fastest, the most memory (Megatron's default). */
    NONE,
    /**
     * Also recompute the MLP's activation function (GELU or SwiGLU) from its kept input: one element-wise pass per
     * layer instead of keeping a [tokens, ffn] tensor per layer (what torch.compile's partitioner chooses).
     */
    SELECTIVE,
    /** Keep only each layer's input and run the layer's forward again in the backward pass. */
    FULL;

    /**
     * The choice Megatron's flags make: {@code --recompute-granularity full|selective}, and
     * {@code --recompute-activations} as Megatron's shorthand for selective.
     *
     * @throws IllegalArgumentException naming the flag when the granularity is neither
     */
    public static Recomputation fromFlags(boolean recomputeActivations, String granularity) {
        if (granularity != null) {
            switch (granularity) {
                case "full":
                    return FULL;
                case "selective":
                    return SELECTIVE;
                default:
                    throw new IllegalArgumentException("--recompute-granularity " + granularity
                            + ": expected full or selective");
            }
        }
        return recomputeActivations ? SELECTIVE : NONE;
    }

    /** The flags that choose this, as {@code lattice train} reads them (none for NONE). */
    public java.util.List<String> flags() {
        return this == NONE ? java.util.List.of() : java.util.List.of("--recompute-granularity", name().toLowerCase(
                java.util.Locale.ROOT));
    }
}
