package dev.lattice.parallel.nccl;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * This thread's open ncclGroupStart/ncclGroupEnd nesting. NCCL's group is per thread, not per communicator, so the
 * point-to-point operations of several communicators can share one; the outermost end launches them all and then
 * each communicator touched waits for its part.
 */
final class NcclGroup {

    private static final ThreadLocal<NcclGroup> CURRENT = ThreadLocal.withInitial(NcclGroup::new);

    private int depth;
    private long startNanos;
    private final Map<NcclCommunicator, List<String>> touched = new LinkedHashMap<>();

    static NcclGroup current() {
        return CURRENT.get();
    }

    boolean open() {
        return depth > 0;
    }

    int depth() {
        return depth;
    }

    void start() {
        if (depth++ == 0) {
            startNanos = System.nanoTime();
        }
    }

    /** When the outermost group started (what the waits at its end are bounded from). */
    long startNanos() {
        return startNanos;
    }

    /** Records that {@code c} enqueued {@code what}. */
    void touch(NcclCommunicator c, String what) {
        touched.computeIfAbsent(c, k -> new ArrayList<>()).add(what);
    }

    /** Ends one level; at the outermost, returns (and forgets) the communicators touched and their operations. */
    Map<NcclCommunicator, List<String>> end() {
        if (depth == 0) {
            throw new IllegalStateException("groupEnd without groupStart");
        }
        if (--depth > 0) {
            return Map.of();
        }
        Map<NcclCommunicator, List<String>> out = new LinkedHashMap<>(touched);
        touched.clear();
        return out;
    }
}
