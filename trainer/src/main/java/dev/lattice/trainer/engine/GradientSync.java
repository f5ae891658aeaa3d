package dev.lattice.trainer.engine;

import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.GptModel;

import java.util.Map;

/**
 * How a rank turns its local gradients into a parameter update: alone ({@link SingleRankSync}) or with its
 * data-parallel peers, with or without ZeRO ({@link DataParallelSync}). Every method that communicates must be called
 * by all data-parallel ranks in the same order.
 */
public interface GradientSync {

    int dpRank();

    int dpSize();

    /** The sum of {@code local} over the data-parallel group (itself on one rank). */
    double sum(double local);

    /**
     * Reduces the gradients, computes the global norm, clips to {@code clip} and applies the optimizer at
     * {@code lr}. Returns the global norm; when it is not finite nothing is applied (the step is skipped).
     */
    double reduceClipStep(GptModel model, double lr, double clip);

    /**
     * A step's backward passes begin ({@code backwardPasses} micro-batches): a sync that overlaps its reduction with
     * them starts counting {@link #gradientsAccumulated} reports. By default nothing happens.
     */
    default void beginBackward(int backwardPasses) {
    }

    /**
     * These parameters' gradients are final for {@code passes} backward passes (the model's report; see
     * {@code GptModel.onGradientsAccumulated}).
     */
    default void gradientsAccumulated(java.util.List<String> names, int passes) {
    }

    /**
     * Offers the factor (1 / loss scale) for the next {@link #reduceClipStep} to apply after reducing; true when this
     * sync takes it (its reduction starts during the backward passes, on still-scaled gradients), false when the
     * caller must unscale the gradients itself first. By a power of two both give the same bits.
     */
    default boolean unscaleAfterReduction(double factor) {
        return false;
    }

    /** Waits for reductions started during the backward passes (a step abandoned before {@link #reduceClipStep}). */
    default void awaitPending() {
    }

    /** Bytes of optimizer state (Adam's two moments) this rank holds. */
    long optimizerStateBytes();

    /** Successful optimizer steps so far. */
    int steps();

    /** Restores the step count from a checkpoint. */
    void restoreSteps(int steps);

    /**
     * The optimizer tensors this rank writes into a checkpoint (see {@code CheckpointLayout}): per-parameter
     * moments of its shards without ZeRO (written by DP rank 0 only; null elsewhere), its flat ZeRO-1/2 shard, or its
     * per-parameter ZeRO-3 shards. No communication.
     */
    java.util.List<dev.lattice.trainer.io.NamedTensor> optimizerPayload(GptModel model);

    /** The ZeRO stage of the files {@link #optimizerPayload} produces (0 for replicated moments). */
    int checkpointZeroStage();

    /** Elements per ZeRO bucket (for reassembling flat shards); irrelevant without ZeRO-1/2. */
    default long bucketElements() {
        return Long.MAX_VALUE;
    }

    /** Whether the ZeRO buckets also close after the embeddings and the first layer ({@code ZeroBuckets}). */
    default boolean firstLayersApart() {
        return false;
    }

    /** Whether the ZeRO flat order puts the product-only weights last ({@code ZeroBuckets.productWeightsLast}). */
    default boolean productWeightsLast() {
        return false;
    }

    /**
     * Makes the model's fp32 parameters whole before they are read back (a checkpoint): a sync that gathers only some
     * parameters' bf16 roundings between steps gathers their fp32 values here.
     */
    default void materializeParameters() {
    }

    /** Loads full per-parameter moments (each rank keeps what it owns). */
    void loadOptimizerState(GptModel model, Map<String, Tensor> m, Map<String, Tensor> v);
}
