package dev.lattice.trainer.engine;

import dev.lattice.parallel.pipeline.LayerAssignment;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.PipelineStage;

import java.util.List;

/** Where Megatron places layers on pipeline ranks (used by the trainer, the memory plan and checkpoint readers). */
public final class StagePlacement {

    private StagePlacement() {
    }

    /** The stage of pipeline rank {@code r} (one model chunk per rank). */
    public static PipelineStage stageOf(ModelConfig c, int pp, int r) {
        return stageOf(c, pp, r, 1);
    }

    /** The stage of pipeline rank {@code r} with {@code chunks} virtual stages (Megatron's interleaved placement). */
    public static PipelineStage stageOf(ModelConfig c, int pp, int r, int chunks) {
        List<List<Integer>> layers = LayerAssignment.layersOf(c.numLayers(), pp, r, chunks);
        int[] starts = new int[chunks];
        int[] ends = new int[chunks];
        for (int k = 0; k < chunks; k++) {
            List<Integer> l = layers.get(k);
            starts[k] = l.get(0);
            ends[k] = l.get(l.size() - 1) + 1;
        }
        return new PipelineStage(starts, ends, r == 0, r == pp - 1);
    }
}
