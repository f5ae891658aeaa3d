package dev.lattice.trainer.model;

import dev.lattice.parallel.comm.Communicator;

/**
 * A rank's place in its pipeline: the pipeline group (stage i talks to stages i±1) and, on the first and last
 * stages with tied embeddings, the embedding group whose word-embedding gradients are summed.
 */
public record PipelineContext(Communicator pipeline, Communicator embedding, int rank, int size) {

    public static final PipelineContext NONE = new PipelineContext(null, null, 0, 1);

    public boolean enabled() {
        return size > 1;
    }

    public boolean first() {
        return rank == 0;
    }

    public boolean last() {
        return rank == size - 1;
    }
}
