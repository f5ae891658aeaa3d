package dev.lattice.parallel.comm;

/** The completion handle of an asynchronous collective (NCCL: an event on the communication stream). */
public interface Work {

    /** Waits for completion; rethrows the collective's failure (e.g. {@link CommTimeoutException}). */
    void await();

    boolean isDone();

    /** A work that completed when it was returned (a blocking operation behind an asynchronous signature). */
    Work DONE = new Work() {
        @Override
        public void await() {
        }

        @Override
        public boolean isDone() {
            return true;
        }
    };
}
