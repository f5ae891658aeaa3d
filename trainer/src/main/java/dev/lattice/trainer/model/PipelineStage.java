package dev.lattice.trainer.model;

/**
 * The part of the model one pipeline stage (or one virtual-stage chunk) runs: layers [layerStart, layerEnd), the
 * embedding on the first stage, the final norm and output layer on the last. With tied embeddings the last stage
 * keeps its own copy of the word embeddings, kept equal to the first stage's by summing their gradients (Megatron's
 * embedding group).
 */
public record PipelineStage(int layerStart, int layerEnd, boolean embedding, boolean head) {

    public static PipelineStage whole(ModelConfig c) {
        return new PipelineStage(0, c.numLayers(), true, true);
    }

    public int layers() {
        return layerEnd - layerStart;
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
            return l >= layerStart && l < layerEnd;
        }
        throw new IllegalArgumentException("unknown parameter " + name);
    }

    /** Whether this stage's copy of {@code name} duplicates the first stage's (tied embeddings on the last stage). */
    public boolean isTiedCopy(String name) {
        return name.equals(ParameterLayout.WORD_EMBEDDINGS) && !embedding;
    }
}
