package dev.lattice.trainer.checkpoint;

/**
 * The parallel layout a checkpoint was written with: how its tensors are cut into files. {@code mp_rank_TT[_PPP]}
 * directories hold each (tensor, pipeline) rank's shards; ZeRO optimizer state is split further per
 * data-parallel rank. Loading reassembles whole tensors and cuts them for the layout of the run that loads.
 * {@code firstLayersApart}: the ZeRO-1/2 buckets also close after the embeddings and the first layer
 * ({@code ZeroBuckets}); false in checkpoints written before that rule, whose JSON lacks the field.
 * {@code productWeightsLast}: the ZeRO-1/2 flat order puts the weights only products read after every other
 * parameter (the bf16 parameter all-gather's order, {@code ZeroBuckets.productWeightsLast}); false when absent.
 */
public record CheckpointLayout(int tp, int pp, int chunks, int dp, int zero, long bucketElements,
                               boolean firstLayersApart, boolean productWeightsLast) {

    public static final CheckpointLayout SINGLE = new CheckpointLayout(1, 1, 1, 1, 0, Long.MAX_VALUE, false, false);

    /**
     * The name of a ZeRO-1/2 flat moment shard ({@code exp_avg}, {@code exp_avg_sq}) in this layout: suffixed in the
     * product-weights-last order, so that a build that does not know the order fails on a missing tensor instead of
     * cutting the shards in the model's order (for GPT-2's shapes both orders give shards of the same length).
     */
    public static String flatMomentName(String moment, boolean productWeightsLast) {
        return productWeightsLast ? moment + ".product_weights_last" : moment;
    }

    /** The optimizer file of a data-parallel rank: one replicated file without ZeRO, one per rank with it. */
    public String optimizerFile(int dpRank) {
        return zero == 0 ? "optimizer.safetensors" : String.format(java.util.Locale.ROOT,
                "optimizer_dp_%03d.safetensors", dpRank);
    }
}
