package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.HostBuffer;
import dev.lattice.parallel.pipeline.LayerAssignment;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.PipelineStage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Brings every pipeline stage's full tensors to the first stage, so checkpoints hold the whole model in one
 * layout that any other layout can load (DeepSpeed's "universal checkpoint" idea). Point-to-point over the pipeline
 * group; the last stage's copy of tied embeddings is not sent.
 */
public final class PipelineGather {

    private PipelineGather() {
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

    private static List<ParameterLayout.Spec> sent(ModelConfig c, ParameterLayout layout, PipelineStage stage) {
        List<ParameterLayout.Spec> out = new ArrayList<>();
        for (ParameterLayout.Spec s : layout.specs()) {
            if (stage.holds(s.name(), c) && !stage.isTiedCopy(s.name())) {
                out.add(s);
            }
        }
        return out;
    }

    /**
     * Collective over the pipeline group: afterwards each map on pipeline rank 0 holds every stage's tensors (other
     * ranks' maps are unchanged).
     */
    public static void toFirstStage(Communicator pp, ModelConfig c, List<Map<String, float[]>> maps) {
        toFirstStage(pp, c, 1, maps);
    }

    public static void toFirstStage(Communicator pp, ModelConfig c, int chunks, List<Map<String, float[]>> maps) {
        if (pp == null || pp.size() == 1) {
            return;
        }
        ParameterLayout layout = new ParameterLayout(c);
        if (pp.rank() != 0) {
            List<ParameterLayout.Spec> mine = sent(c, layout, stageOf(c, pp.size(), pp.rank(), chunks));
            for (Map<String, float[]> map : maps) {
                int total = 0;
                for (ParameterLayout.Spec s : mine) {
                    total += map.get(s.name()).length;
                }
                float[] flat = new float[total];
                int at = 0;
                for (ParameterLayout.Spec s : mine) {
                    float[] v = map.get(s.name());
                    System.arraycopy(v, 0, flat, at, v.length);
                    at += v.length;
                }
                pp.send(new HostBuffer(flat), 0, flat.length, 0);
            }
            return;
        }
        for (int r = 1; r < pp.size(); r++) {
            List<ParameterLayout.Spec> theirs = sent(c, layout, stageOf(c, pp.size(), r, chunks));
            long total = 0;
            for (ParameterLayout.Spec s : theirs) {
                total += s.numel();
            }
            for (Map<String, float[]> map : maps) {
                float[] flat = new float[Math.toIntExact(total)];
                pp.recv(new HostBuffer(flat), 0, flat.length, r);
                int at = 0;
                for (ParameterLayout.Spec s : theirs) {
                    int n = Math.toIntExact(s.numel());
                    map.put(s.name(), java.util.Arrays.copyOfRange(flat, at, at + n));
                    at += n;
                }
            }
        }
    }
}
