package dev.lattice.trainer.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/**
 * Runs {@code for i in [0, n)} over independent items (usually rows) on a shared {@link ForkJoinPool}
 * (the common pool unless {@link #setPool} says otherwise), split into contiguous chunks.
 *
 * <p>Determinism contract: the body is handed disjoint index ranges and every index is processed
 * exactly once by the same code, so a kernel whose items write disjoint outputs produces bit-identical
 * results whatever the chunking or the number of threads. Kernels must never use this to reduce into a
 * shared accumulator across items; reductions across rows (parameter gradients) are parallelized over
 * columns instead, each output element being summed over rows in a fixed order.
 *
 * <p>Small loops ({@code n * workPerItem} below a threshold) and pools of parallelism 1 run inline on
 * the calling thread.
 */
public final class Parallel {

    /** Body of a parallel loop: processes items {@code [from, to)}. */
    @FunctionalInterface
    public interface Range {
        void apply(int from, int to);
    }

    /** Below this many (approximate) scalar operations the loop runs inline. */
    static final long INLINE_WORK = 1L << 15;
    /** Target chunks per pool thread (load balancing). */
    private static final int CHUNKS_PER_THREAD = 4;

    private static volatile ForkJoinPool override;

    private Parallel() {
    }

    /**
     * Uses {@code pool} for all kernels instead of the common pool; {@code null} restores the common pool.
     * Meant for configuration and tests (e.g. checking that results do not depend on the thread count).
     */
    public static void setPool(ForkJoinPool pool) {
        override = pool;
    }

    /** The pool the kernels currently run on. */
    public static ForkJoinPool pool() {
        ForkJoinPool p = override;
        return p != null ? p : ForkJoinPool.commonPool();
    }

    /**
     * Runs {@code body} over {@code [0, n)} in contiguous chunks.
     *
     * @param n            number of independent items
     * @param workPerItem  rough number of scalar operations per item (used only to decide chunking)
     * @param body         processes a sub-range; must only write outputs owned by its items
     */
    public static void forRange(int n, long workPerItem, Range body) {
        if (n <= 0) {
            return;
        }
        ForkJoinPool p = pool();
        int par = p.getParallelism();
        long total = (long) n * Math.max(1L, workPerItem);
        if (n == 1 || par <= 1 || total < INLINE_WORK) {
            body.apply(0, n);
            return;
        }
        long byWork = Math.max(2L, total / (INLINE_WORK / 4));
        int chunks = (int) Math.min(Math.min((long) n, (long) par * CHUNKS_PER_THREAD), byWork);
        Chunk task = new Chunk(body, n, chunks, 0, chunks);
        if (ForkJoinTask.getPool() == p) {
            task.invoke();
        } else {
            p.invoke(task);
        }
    }

    private static final class Chunk extends RecursiveAction {
        private final Range body;
        private final int n;
        private final int chunks;
        private final int lo;
        private final int hi;

        Chunk(Range body, int n, int chunks, int lo, int hi) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                int from = (int) ((long) n * lo / chunks);
                int to = (int) ((long) n * (lo + 1) / chunks);
                body.apply(from, to);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Chunk(body, n, chunks, lo, mid), new Chunk(body, n, chunks, mid, hi));
        }
    }
}
