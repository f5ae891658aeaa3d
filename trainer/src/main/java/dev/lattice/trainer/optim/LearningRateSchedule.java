package dev.lattice.trainer.optim;

import java.util.Locale;

/**
 * Megatron's learning-rate schedule ({@code OptimizerParamScheduler}): linear warmup from 0 to {@code --lr} over
 * {@code --lr-warmup-iters}, then {@code cosine}, {@code linear} or {@code constant} decay to {@code --min-lr} at
 * {@code --lr-decay-iters} (default: {@code --train-iters}), {@code --min-lr} after. As in Megatron, the rate used at
 * iteration i (1-based) is the schedule's value after i−1 completed steps, so the first warmup step runs at 0.
 */
public record LearningRateSchedule(double maxLr, double minLr, int warmupIters, int decayIters, Style style) {

    /** {@code --lr-decay-style}. */
    public enum Style {
        CONSTANT, LINEAR, COSINE;

        public static Style parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--lr-decay-style " + s + ": expected constant, linear or cosine");
            }
        }
    }

    public LearningRateSchedule {
        if (maxLr < 0 || minLr < 0 || minLr > maxLr) {
            throw new IllegalArgumentException("--min-lr " + minLr + " must be between 0 and --lr " + maxLr);
        }
        if (warmupIters < 0 || decayIters < 0) {
            throw new IllegalArgumentException("--lr-warmup-iters and --lr-decay-iters must be >= 0");
        }
        if (style != Style.CONSTANT && decayIters <= warmupIters && decayIters > 0) {
            throw new IllegalArgumentException("--lr-decay-iters " + decayIters + " must exceed --lr-warmup-iters "
                    + warmupIters);
        }
    }

    /** The learning rate after {@code completedSteps} optimizer steps. */
    public double at(long completedSteps) {
        if (warmupIters > 0 && completedSteps <= warmupIters) {
            return maxLr * completedSteps / warmupIters;
        }
        if (style == Style.CONSTANT) {
            return maxLr;
        }
        if (completedSteps > decayIters) {
            return minLr;
        }
        double ratio = (double) (completedSteps - warmupIters) / (decayIters - warmupIters);
        double coeff = style == Style.LINEAR ? 1.0 - ratio : 0.5 * (Math.cos(Math.PI * ratio) + 1.0);
        return minLr + coeff * (maxLr - minLr);
    }
}
