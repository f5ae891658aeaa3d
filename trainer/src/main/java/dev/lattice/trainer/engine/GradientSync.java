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

    /** Bytes of optimizer state (Adam's two moments) this rank holds. */
    long optimizerStateBytes();

    /** Successful optimizer steps so far. */
    int steps();

    /** Restores the step count from a checkpoint. */
    void restoreSteps(int steps);

    /** The full first and second moments per parameter, as one rank would hold them (collective under ZeRO). */
    Map<String, Tensor>[] fullOptimizerState(GptModel model);

    /** Loads full per-parameter moments (each rank keeps what it owns). */
    void loadOptimizerState(GptModel model, Map<String, Tensor> m, Map<String, Tensor> v);
}
