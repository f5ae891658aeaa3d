package dev.lattice.parallel.comm;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Where the members of one group meet: one {@link Phase} per collective, numbered by each member's own operation
 * count, so the k-th collective of every member lands in the same phase.
 */
final class GroupState {

    final String label;
    final int[] members;
    private final Map<Long, Phase> phases = new ConcurrentHashMap<>();

    GroupState(String label, int[] members) {
        this.label = label;
        this.members = members;
    }

    Phase phase(long seq) {
        return phases.computeIfAbsent(seq, s -> new Phase(members.length));
    }

    void done(long seq) {
        phases.remove(seq);
    }

    void wakeAll() {
        for (Phase p : phases.values()) {
            synchronized (p) {
                p.notifyAll();
            }
        }
    }

    /** One collective: each member deposits its contribution, then all read all of them. */
    static final class Phase {
        private final int n;
        private final float[][] data;
        private final boolean[] arrived;
        private String op;
        private long count;
        private int opRank = -1;
        private int arrivals;
        private int departures;
        private String error;

        Phase(int n) {
            this.n = n;
            this.data = new float[n][];
            this.arrived = new boolean[n];
        }

        synchronized void deposit(int rank, String op, long count, float[] contribution, String group, long seq) {
            if (this.op == null) {
                this.op = op;
                this.count = count;
                this.opRank = rank;
            } else if (!this.op.equals(op) || this.count != count) {
                error = ("collective mismatch in group " + group + " (operation #" + seq
                        + "): rank " + rank + " called " + op + "(count=" + count + ") but rank " + opRank + " called "
                        + this.op + "(count=" + this.count + ")");
                notifyAll(); // the members already waiting fail with the same message
                throw new IllegalStateException(error);
            }
            data[rank] = contribution;
            arrived[rank] = true;
            arrivals++;
            notifyAll();
        }

        /** Waits for every member; on timeout names who is missing. */
        synchronized float[][] awaitAll(long timeoutNanos, int rank, int worldRank, int[] members, String group,
                                        String op, long seq, Runnable abortCheck) {
            long deadline = System.nanoTime() + timeoutNanos;
            while (arrivals < n) {
                abortCheck.run();
                if (error != null) {
                    throw new IllegalStateException(error);
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    StringBuilder missing = new StringBuilder();
                    for (int i = 0; i < n; i++) {
                        if (!arrived[i]) {
                            missing.append(missing.length() == 0 ? "" : ", ").append(members[i]);
                        }
                    }
                    throw new CommTimeoutException("rank " + worldRank + " waited "
                            + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms in " + op + " (operation #" + seq
                            + ") of group " + group + " for rank(s) " + missing + " that never joined");
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(this, Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CommTimeoutException("rank " + worldRank + " interrupted in " + op + " of group "
                            + group);
                }
            }
            return data;
        }

        /** Returns true for the last member to leave. */
        synchronized boolean leave() {
            return ++departures == n;
        }

        @Override
        public synchronized String toString() {
            return op + " " + Arrays.toString(arrived);
        }
    }
}
