package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.model.Batch;

import java.util.Arrays;
import java.util.Random;

/** Test helpers for the engine's multi-rank tests: ranks as threads of an in-JVM world, and tiny random batches. */
final class RankThreads {

    /** One rank's work. */
    interface Body {
        void run(int rank) throws Exception;
    }

    private RankThreads() {
    }

    /**
     * Runs {@code body} for every rank of {@code world}, each on its own thread, closing each rank at its end; a rank
     * that fails aborts the world (so the others do not wait for it) and is rethrown once all have stopped.
     */
    static void run(InJvmWorld world, int ranks, Body body) throws InterruptedException {
        Thread[] threads = new Thread[ranks];
        Throwable[] failure = new Throwable[1];
        for (int rank = 0; rank < ranks; rank++) {
            int r = rank;
            threads[r] = new Thread(() -> {
                try {
                    body.run(r);
                } catch (Throwable t) {
                    synchronized (failure) {
                        if (failure[0] == null) {
                            failure[0] = t;
                        }
                    }
                    world.abort("rank " + r + " failed: " + t);
                } finally {
                    world.closeRank(r);
                }
            });
            threads[r].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure[0] != null) {
            throw new AssertionError("a rank failed", failure[0]);
        }
    }

    /** Two sequences of 8 random tokens below 37 (and their targets), every position counted. */
    static Batch tinyBatch(int seed) {
        Random r = new Random(seed);
        float[] mask = new float[16];
        Arrays.fill(mask, 1f);
        return new Batch(r.ints(16, 0, 37).toArray(), r.ints(16, 0, 37).toArray(), mask, 2, 8);
    }
}
