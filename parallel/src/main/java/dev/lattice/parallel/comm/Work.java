package dev.lattice.parallel.comm;

/** The completion handle of an asynchronous collective (NCCL: an event on the communication stream). */
public interface Work {

    /** Waits for completion; rethrows the collective's failure (e.g. {@link CommTimeoutException}). */
    void await();

    boolean isDone();
}
