package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Collectives;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.TpSplit;

/**
 * The squared global gradient norm of a model whose parameters may be tensor-parallel shards: shards add up over
 * the TP group, replicated parameters (identical on every TP rank) count once.
 */
final class GradientNorm {

    private GradientNorm() {
    }

    static double squared(GptModel model) {
        Backend be = model.backend();
        double sharded = 0;
        double replicated = 0;
        for (ParameterLayout.Spec s : model.specs()) {
            Tensor g = model.gradients().get(s.name());
            double sq = be.sumOfSquares(g);
            if (s.split() == TpSplit.REPLICATED) {
                replicated += sq;
            } else {
                sharded += sq;
            }
        }
        return Collectives.sum(model.tensorParallel().comm(), sharded) + replicated;
    }
}
