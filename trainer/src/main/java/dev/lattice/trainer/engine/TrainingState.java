package dev.lattice.trainer.engine;

/**
 * Where a run stands: what a checkpoint must restore for the continued run to equal the uninterrupted one.
 *
 * @param iteration            iterations done (successful or skipped)
 * @param consumedTrainSamples training samples consumed (skipped iterations consume theirs too, as in Megatron)
 * @param consumedValidSamples validation samples consumed by evaluations
 * @param skippedIterations    iterations whose update was skipped (non-finite loss or gradients)
 * @param optimizerSteps       successful optimizer steps (drives the LR schedule and Adam's bias correction)
 */
public record TrainingState(long iteration, long consumedTrainSamples, long consumedValidSamples,
                            long skippedIterations, int optimizerSteps) {

    public static TrainingState start() {
        return new TrainingState(0, 0, 0, 0, 0);
    }
}
