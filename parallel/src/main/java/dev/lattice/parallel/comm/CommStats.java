package dev.lattice.parallel.comm;

import java.util.EnumMap;
import java.util.Map;

/**
 * Calls and bytes per operation, counted as a ring implementation moves them per rank: all-reduce
 * 2(n−1)/n·B, reduce-scatter and all-gather (n−1)/n·B of the full buffer B, broadcast and send B.
 */
public final class CommStats {

    /** The operations counted. */
    public enum Op {
        ALL_REDUCE, REDUCE_SCATTER, ALL_GATHER, BROADCAST, SEND, RECV, BARRIER
    }

    private final Map<Op, long[]> counts = new EnumMap<>(Op.class); // {calls, bytes}

    /** Counts one call of {@code op} moving {@code bytes} (for communicator implementations). */
    public synchronized void add(Op op, long bytes) {
        long[] c = counts.computeIfAbsent(op, k -> new long[2]);
        c[0]++;
        c[1] += bytes;
    }

    public synchronized long calls(Op op) {
        return counts.getOrDefault(op, new long[2])[0];
    }

    public synchronized long bytes(Op op) {
        return counts.getOrDefault(op, new long[2])[1];
    }

    /** Bytes over every operation. */
    public synchronized long totalBytes() {
        long s = 0;
        for (long[] c : counts.values()) {
            s += c[1];
        }
        return s;
    }

    public synchronized void reset() {
        counts.clear();
    }

    @Override
    public synchronized String toString() {
        StringBuilder b = new StringBuilder();
        counts.forEach((op, c) -> b.append(op).append(": ").append(c[0]).append(" calls, ").append(c[1])
                .append(" bytes; "));
        return b.toString();
    }
}
