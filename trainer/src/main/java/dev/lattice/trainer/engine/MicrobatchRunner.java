package dev.lattice.trainer.engine;

import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;

/** Runs a rank's micro-batches of one iteration: one after another, or through a pipeline schedule. */
public interface MicrobatchRunner {

    /**
     * Forward and backward of {@code batches}, each token weighted by mask / {@code globalTokens}; gradients
     * accumulate in the model. Returns Σ mask·loss over the batches, the same on every pipeline stage.
     */
    double trainStep(GptModel model, Batch[] batches, double globalTokens);

    /** Forward only; returns {Σ mask·loss, Σ mask}, the same on every pipeline stage. */
    double[] evaluate(GptModel model, Batch[] batches);

    /** The loss weights of a micro-batch: mask / tokens of the global batch. */
    static float[] weights(Batch b, double globalTokens) {
        float[] w = new float[b.lossMask().length];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (b.lossMask()[i] / globalTokens);
        }
        return w;
    }

    static double maskedLoss(float[] losses, Batch b) {
        double s = 0;
        for (int i = 0; i < losses.length; i++) {
            s += (double) losses[i] * b.lossMask()[i];
        }
        return s;
    }
}
