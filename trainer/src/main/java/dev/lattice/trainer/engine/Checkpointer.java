package dev.lattice.trainer.engine;

import java.io.IOException;

/** Saves the model, optimizer and {@link TrainingState} at an iteration. */
public interface Checkpointer {

    void save(TrainingState state) throws IOException;
}
