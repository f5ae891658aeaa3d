package dev.lattice.parallel.nccl;

import java.util.concurrent.locks.LockSupport;

/**
 * Pauses between polls of a pending operation: spins first (small collectives finish in microseconds), then parks
 * briefly so a long wait does not burn a core.
 */
final class Backoff {

    private static final int SPINS = 2_000;
    private static final long PARK_NANOS = 20_000;

    private int polls;

    /** Returns false when the thread was interrupted. */
    boolean pause() {
        if (polls++ < SPINS) {
            Thread.onSpinWait();
        } else {
            LockSupport.parkNanos(PARK_NANOS);
        }
        return !Thread.currentThread().isInterrupted();
    }
}
