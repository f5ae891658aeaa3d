package dev.lattice.trainer.engine;

import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;

/** No pipeline: each micro-batch's forward then backward, in order. */
public final class SequentialRunner implements MicrobatchRunner {

    @Override
    public double trainStep(GptModel model, Batch[] batches, double globalTokens) {
        double lossSum = 0;
        for (Batch b : batches) {
            float[] w = MicrobatchRunner.weights(b, globalTokens);
            lossSum += MicrobatchRunner.maskedLoss(model.forward(b, w), b); // the loss's gradient in the same pass
            model.backward(w);
        }
        return lossSum;
    }

    @Override
    public double[] evaluate(GptModel model, Batch[] batches) {
        double lossSum = 0;
        double tokens = 0;
        for (Batch b : batches) {
            lossSum += MicrobatchRunner.maskedLoss(model.forward(b), b);
            tokens += b.maskedTokens();
        }
        return new double[] {lossSum, tokens};
    }
}
