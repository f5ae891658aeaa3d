package dev.lattice.trainer.model;

import java.util.Arrays;

/**
 * The part of the model one pipeline rank runs: one or more model chunks (virtual stages, for the interleaved
 * schedule), each a range of consecutive layers [start, end); the embedding belongs to the first chunk of the
 * first rank, the final norm and output layer to the last chunk of the last rank. With tied embeddings the last rank
 * keeps its own copy of the word embeddings, kept equal to the first rank's by summing their gradients (Megatron's
 * embedding group).
 */
public record PipelineStage(int[] starts, int[] ends, boolean embedding, boolean head) {

    public PipelineStage {
        if (starts.length == 0 || starts.length != ends.length) {
            throw new IllegalArgumentException("a stage needs one layer range per chunk");
        }
        starts = starts.clone();
        ends = ends.clone();
    }

    /** One chunk of layers [layerStart, layerEnd). */
    public PipelineStage(int layerStart, int layerEnd, boolean embedding, boolean head) {
        this(new int[] {layerStart}, new int[] {layerEnd}, embedding, head);
    }

    public static PipelineStage whole(ModelConfig c) {
        return new PipelineStage(0, c.numLayers(), true, true);
    }

    /** Model chunks on this rank (V). */
    public int chunks() {
        return starts.length;
    }

    public int layerStart(int chunk) {
        return starts[chunk];
    }

    public int layerEnd(int chunk) {
        return ends[chunk];
    }

    public int layers(int chunk) {
        return ends[chunk] - starts[chunk];
    }

    /** Whether chunk {@code c} begins with the embedding. */
    public boolean embeds(int c) {
        return embedding && c == 0;
    }

    /** Whether chunk {@code c} ends with the head (final norm, output layer, loss). */
    public boolean computesLoss(int c) {
        return head && c == starts.length - 1;
    }

    /** Whether this stage holds parameter {@code name}. */
    public boolean holds(String name, ModelConfig c) {
        if (name.equals(ParameterLayout.WORD_EMBEDDINGS)) {
            return embedding || (head && c.tiedEmbeddings());
        }
        if (name.equals(ParameterLayout.POSITION_EMBEDDINGS)) {
            return embedding;
        }
        if (name.startsWith(ParameterLayout.FINAL_NORM) || name.equals(ParameterLayout.OUTPUT_LAYER)) {
            return head;
        }
        if (name.startsWith("decoder.layers.")) {
            int l = Integer.parseInt(name.substring("decoder.layers.".length(), name.indexOf('.', 15)));
            for (int k = 0; k < starts.length; k++) {
                if (l >= starts[k] && l < ends[k]) {
                    return true;
                }
            }
            return false;
        }
        throw new IllegalArgumentException("unknown parameter " + name);
    }

    /** Whether this stage's copy of {@code name} duplicates the first stage's (tied embeddings on the last stage). */
    public boolean isTiedCopy(String name) {
        return name.equals(ParameterLayout.WORD_EMBEDDINGS) && !embedding;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PipelineStage p && Arrays.equals(starts, p.starts) && Arrays.equals(ends, p.ends)
                && embedding == p.embedding && head == p.head;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(starts) * 31 + Arrays.hashCode(ends);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("stage[");
        for (int k = 0; k < starts.length; k++) {
            b.append(k == 0 ? "" : ", ").append(starts[k]).append('-').append(ends[k] - 1);
        }
        return b.append(embedding ? ", embedding" : "").append(head ? ", head" : "").append(']').toString();
    }
}
