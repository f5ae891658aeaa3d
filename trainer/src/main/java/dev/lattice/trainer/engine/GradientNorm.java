package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Collectives;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.TpSplit;

/**
 * The squared global gradient norm of a model whose parameters may be tensor-parallel shards of one pipeline
 * stage: shards add up over the TP group, replicated parameters (identical on every TP rank) count once, stages add
 * up over the pipeline, and the last stage's copy of tied embeddings is not counted twice.
 */
final class GradientNorm {

    private GradientNorm() {
    }

    static double squared(GptModel model) {
        Backend be = model.backend();
        java.util.List<ParameterLayout.Spec> counted = new java.util.ArrayList<>();
        java.util.List<Tensor> grads = new java.util.ArrayList<>();
        for (ParameterLayout.Spec s : model.specs()) {
            if (!model.stage().isTiedCopy(s.name())) { // the first stage counts the tied word embeddings
                counted.add(s);
                grads.add(model.gradients().get(s.name()));
            }
        }
        double[] squares = be.sumsOfSquares(grads);
        double sharded = 0;
        double replicated = 0;
        for (int i = 0; i < squares.length; i++) {
            if (counted.get(i).split() == TpSplit.REPLICATED) {
                replicated += squares[i];
            } else {
                sharded += squares[i];
            }
        }
        double stageTotal = Collectives.sum(model.tensorParallel().comm(), sharded) + replicated;
        return Collectives.sum(model.pipeline().pipeline(), stageTotal);
    }
}
