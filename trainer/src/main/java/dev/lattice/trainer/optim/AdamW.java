package dev.lattice.trainer.optim;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.ParameterLayout;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW with fp32 master weights (the parameters themselves are fp32 here) and decoupled weight decay, not applied
 * to biases and norm weights (Megatron's default parameter groups). Holds the first and second moments per
 * parameter.
 */
public final class AdamW {

    private final Backend be;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Map<String, Tensor> m = new LinkedHashMap<>();
    private final Map<String, Tensor> v = new LinkedHashMap<>();
    private final Map<String, Boolean> decays = new LinkedHashMap<>();
    private int step;

    public AdamW(Backend backend, List<ParameterLayout.Spec> specs, double beta1, double beta2, double eps,
                 double weightDecay) {
        this(backend, specs, null, beta1, beta2, eps, weightDecay);
    }

    /**
     * @param params the parameters the moments mirror (their local, possibly tensor-parallel, shapes); null to use
     *               the specs' full shapes
     */
    public AdamW(Backend backend, List<ParameterLayout.Spec> specs, Map<String, Tensor> params, double beta1,
                 double beta2, double eps, double weightDecay) {
        this.be = backend;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        for (ParameterLayout.Spec s : specs) {
            int[] shape = params == null ? s.shape() : params.get(s.name()).shape();
            m.put(s.name(), be.zeros(shape));
            v.put(s.name(), be.zeros(shape));
            decays.put(s.name(), s.weightDecay());
        }
    }

    /** Steps taken so far (the bias-correction step count). */
    public int steps() {
        return step;
    }

    /** Applies one step with learning rate {@code lr} to every parameter from its gradient. */
    public void step(Map<String, Tensor> params, Map<String, Tensor> grads, double lr) {
        step(params, grads, lr, 1f);
    }

    /**
     * One step after multiplying every gradient by {@code gradScale} in place ({@link #clipScale}): one backend call
     * for all parameters.
     */
    public void step(Map<String, Tensor> params, Map<String, Tensor> grads, double lr, float gradScale) {
        step++;
        be.adamW(segments(params, grads), gradScale, lr, beta1, beta2, eps, step);
    }

    private Map<String, Tensor> segmentParams;
    private Map<String, Tensor> segmentGrads;
    private java.util.List<Backend.AdamWSegment> segments;

    /** The whole-tensor segments, rebuilt only when the parameter or gradient tensors change (ZeRO-3 swaps them). */
    private java.util.List<Backend.AdamWSegment> segments(Map<String, Tensor> params, Map<String, Tensor> grads) {
        boolean same = segments != null && params == segmentParams && grads == segmentGrads;
        if (same) {
            int i = 0;
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                Backend.AdamWSegment s = segments.get(i++);
                same &= s.param() == e.getValue() && s.grad() == grads.get(e.getKey());
            }
        }
        if (!same) {
            java.util.List<Backend.AdamWSegment> list = new java.util.ArrayList<>();
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                String name = e.getKey();
                Tensor p = e.getValue();
                list.add(new Backend.AdamWSegment(p, 0, grads.get(name), 0, m.get(name), v.get(name), 0, p.numel(),
                        decays.get(name) ? weightDecay : 0.0));
            }
            segments = java.util.List.copyOf(list);
            segmentParams = params;
            segmentGrads = grads;
        }
        return segments;
    }

    /** Megatron's --clip-grad factor for a global norm: {@code maxNorm / (norm + 1e-6)} when below 1, else 1. */
    public static float clipScale(double norm, double maxNorm) {
        double coeff = maxNorm / (norm + 1.0e-6);
        return maxNorm > 0 && coeff < 1.0 ? (float) coeff : 1f;
    }

    /** First moments, by parameter name (for checkpoints). */
    public Map<String, Tensor> firstMoments() {
        return m;
    }

    /** Second moments, by parameter name (for checkpoints). */
    public Map<String, Tensor> secondMoments() {
        return v;
    }

    /** Restores the step count from a checkpoint. */
    public void restoreSteps(int steps) {
        this.step = steps;
    }

    /** The global L2 norm of all gradients (fixed summation order). */
    public static double globalNorm(Backend be, Map<String, Tensor> grads) {
        double sum = 0;
        for (double sq : be.sumsOfSquares(new java.util.ArrayList<>(grads.values()))) {
            sum += sq;
        }
        return Math.sqrt(sum);
    }
}
