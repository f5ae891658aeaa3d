package dev.lattice.trainer.engine;

/**
 * fp16 loss scaling (Megatron's grad scalers): the loss — in practice its per-token weights — is multiplied by the
 * scale before the backward pass, so small gradients survive fp16 products; the gradients are divided by it again
 * before clipping and the optimizer. An iteration whose gradients overflow is skipped. The dynamic scaler halves the
 * scale after {@code hysteresis} overflows (not below {@code minScale}) and doubles it after {@code window} clean
 * iterations in a row; the constant one ({@code --loss-scale}) never changes.
 */
public final class LossScaler {

    private final double minScale;
    private final int window;
    private final int hysteresis;
    private final boolean dynamic;
    private double scale;
    private int cleanIterations;
    private int hysteresisLeft;

    private LossScaler(double scale, double minScale, int window, int hysteresis, boolean dynamic) {
        if (!(scale > 0) || !(minScale > 0) || window <= 0 || hysteresis <= 0) {
            throw new IllegalArgumentException("loss scale must be positive, window and hysteresis >= 1 (got scale "
                    + scale + ", min " + minScale + ", window " + window + ", hysteresis " + hysteresis + ")");
        }
        this.scale = scale;
        this.minScale = minScale;
        this.window = window;
        this.hysteresis = hysteresis;
        this.hysteresisLeft = hysteresis;
        this.dynamic = dynamic;
    }

    /** {@code --loss-scale S}. */
    public static LossScaler constant(double scale) {
        return new LossScaler(scale, scale, 1, 1, false);
    }

    /** {@code --initial-loss-scale}, {@code --min-loss-scale}, {@code --loss-scale-window}, {@code --hysteresis}. */
    public static LossScaler dynamic(double initial, double minScale, int window, int hysteresis) {
        return new LossScaler(initial, minScale, window, hysteresis, true);
    }

    public double scale() {
        return scale;
    }

    /** After an iteration: whether its gradients overflowed (it was then skipped). */
    public void update(boolean overflow) {
        if (!dynamic) {
            return;
        }
        if (overflow) {
            cleanIterations = 0;
            hysteresisLeft--;
            if (hysteresisLeft <= 0) {
                scale = Math.max(scale / 2, minScale);
            }
        } else {
            cleanIterations++;
            if (cleanIterations == window) {
                cleanIterations = 0;
                hysteresisLeft = hysteresis;
                scale *= 2;
            }
        }
    }

    /** Restores the scale from a checkpoint (the counters start afresh, as Megatron's do not matter much). */
    public void restore(double savedScale) {
        if (savedScale > 0) {
            scale = savedScale;
        }
    }
}
