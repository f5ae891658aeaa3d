package dev.lattice.trainer.engine;

import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.optim.AdamW;

import java.util.Map;

/** One rank: global norm, clip and AdamW on its own gradients. */
public final class SingleRankSync implements GradientSync {

    private final AdamW adam;

    public SingleRankSync(AdamW adam) {
        this.adam = adam;
    }

    @Override
    public int dpRank() {
        return 0;
    }

    @Override
    public int dpSize() {
        return 1;
    }

    @Override
    public double sum(double local) {
        return local;
    }

    @Override
    public double reduceClipStep(GptModel model, double lr, double clip) {
        double norm = Math.sqrt(GradientNorm.squared(model));
        if (!Double.isFinite(norm)) {
            return norm;
        }
        adam.step(model.parameters(), model.gradients(), lr, AdamW.clipScale(norm, clip));
        return norm;
    }

    @Override
    public long optimizerStateBytes() {
        long n = 0;
        for (Tensor t : adam.firstMoments().values()) {
            n += t.numel();
        }
        return 2 * 4 * n;
    }

    @Override
    public int steps() {
        return adam.steps();
    }

    @Override
    public void restoreSteps(int steps) {
        adam.restoreSteps(steps);
    }

    @Override
    public java.util.List<dev.lattice.trainer.io.NamedTensor> optimizerPayload(GptModel model) {
        return perParameter(model, adam.firstMoments(), adam.secondMoments());
    }

    @Override
    public int checkpointZeroStage() {
        return 0;
    }

    /** exp_avg.NAME / exp_avg_sq.NAME for every parameter this stage owns (the tied copy is the first stage's). */
    static java.util.List<dev.lattice.trainer.io.NamedTensor> perParameter(GptModel model, Map<String, Tensor> m,
                                                                           Map<String, Tensor> v) {
        java.util.List<dev.lattice.trainer.io.NamedTensor> out = new java.util.ArrayList<>();
        for (dev.lattice.trainer.model.ParameterLayout.Spec s : model.specs()) {
            if (model.stage().isTiedCopy(s.name())) {
                continue;
            }
            Tensor a = m.get(s.name());
            out.add(new dev.lattice.trainer.io.NamedTensor("exp_avg." + s.name(), a.shape(),
                    model.backend().toHost(a)));
            out.add(new dev.lattice.trainer.io.NamedTensor("exp_avg_sq." + s.name(), a.shape(),
                    model.backend().toHost(v.get(s.name()))));
        }
        return out;
    }

    @Override
    public void loadOptimizerState(GptModel model, Map<String, Tensor> m, Map<String, Tensor> v) {
        for (String name : m.keySet()) {
            model.backend().copy(adam.firstMoments().get(name), m.get(name));
            model.backend().copy(adam.secondMoments().get(name), v.get(name));
        }
    }
}
