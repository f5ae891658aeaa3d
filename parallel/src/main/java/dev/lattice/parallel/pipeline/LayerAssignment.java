package dev.lattice.parallel.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * Transformer-layer placement for (virtual) pipeline parallelism (spec §7.2): chunk {@code c} on rank {@code p} holds
 * virtual stage {@code c·PP + p}, and every virtual stage holds {@code numLayers / (PP·V)} consecutive layers.
 * Layer indices are 0-based (the spec's example is 1-based: GPU0 [1,2],[9,10] = 0-based [0,1],[8,9]).
 */
public final class LayerAssignment {

    private LayerAssignment() {
    }

    /** Layers of one virtual stage; throws when {@code numLayers} is not divisible by {@code PP·V}. */
    public static int layersPerVirtualStage(int numLayers, int pp, int chunks) {
        if (numLayers < 1) {
            throw new IllegalArgumentException("numLayers must be >= 1, got " + numLayers);
        }
        if (pp < 1) {
            throw new IllegalArgumentException("pipeline-parallel size PP must be >= 1, got PP=" + pp);
        }
        if (chunks < 1) {
            throw new IllegalArgumentException("model chunks per rank V must be >= 1, got V=" + chunks);
        }
        if (numLayers % (pp * chunks) != 0) {
            throw new IllegalArgumentException("numLayers must be divisible by PP·V so every virtual stage holds the "
                    + "same number of layers (numLayers=" + numLayers + ", PP=" + pp + ", V=" + chunks + ", PP·V="
                    + pp * chunks + ", numLayers mod PP·V=" + numLayers % (pp * chunks) + ")");
        }
        return numLayers / (pp * chunks);
    }

    /** Element c is the ascending list of global layer indices held by chunk c of {@code rank}. */
    public static List<List<Integer>> layersOf(int numLayers, int pp, int rank, int chunks) {
        int per = layersPerVirtualStage(numLayers, pp, chunks);
        VirtualStages.checkRank(pp, rank);
        List<List<Integer>> out = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) {
            int start = VirtualStages.virtualStage(pp, rank, c) * per;
            List<Integer> layers = new ArrayList<>(per);
            for (int i = 0; i < per; i++) {
                layers.add(start + i);
            }
            out.add(List.copyOf(layers));
        }
        return List.copyOf(out);
    }

    /** The virtual stage that holds {@code layer}. */
    public static int virtualStageOf(int numLayers, int pp, int chunks, int layer) {
        int per = layersPerVirtualStage(numLayers, pp, chunks);
        if (layer < 0 || layer >= numLayers) {
            throw new IllegalArgumentException("layer must be in [0, " + numLayers + "), got " + layer);
        }
        return layer / per;
    }
}
