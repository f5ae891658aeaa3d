package dev.lattice.trainer.model;

import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.trainer.backend.Tensor;

/** A rank's place in its tensor-parallel group, and the group's all-reduce (a no-op alone). */
public record TensorParallel(Communicator comm, int rank, int size) {

    public static final TensorParallel NONE = new TensorParallel(null, 0, 1);

    public static TensorParallel of(Communicator comm) {
        return new TensorParallel(comm, comm.rank(), comm.size());
    }

    public boolean enabled() {
        return size > 1;
    }

    /** Sums {@code t} over the group in place. */
    public void sum(Tensor t) {
        if (size > 1) {
            comm.allReduce(t, 0, t.numel(), ReduceOp.SUM);
        }
    }

    /** Element-wise maximum of {@code t} over the group in place. */
    public void max(Tensor t) {
        if (size > 1) {
            comm.allReduce(t, 0, t.numel(), ReduceOp.MAX);
        }
    }
}
