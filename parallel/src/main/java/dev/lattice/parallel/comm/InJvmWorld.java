package dev.lattice.parallel.comm;

import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Ranks as threads of one JVM (the CPU backend's "cluster"): hands out {@link InJvmCommunicator}s for the world and
 * its sub-groups, and holds the state they meet in. Every blocking wait is bounded by {@code timeout}.
 * Optionally injects seeded random delays before every operation, to shake out ordering bugs and deadlocks.
 */
public final class InJvmWorld implements CommWorld {

    private final int size;
    private final Duration timeout;
    private final int maxDelayMicros;
    private final long delaySeed;
    private final Map<String, GroupState> groups = new ConcurrentHashMap<>();
    private final Map<String, java.util.concurrent.BlockingQueue<float[]>> channels = new ConcurrentHashMap<>();
    private volatile String abortReason;
    private final java.util.List<InJvmCommunicator> created = new java.util.concurrent.CopyOnWriteArrayList<>();

    public InJvmWorld(int size, Duration timeout) {
        this(size, timeout, 0, 0);
    }

    /**
     * @param maxDelayMicros up to this many microseconds of random delay before each operation (0 = none)
     */
    public InJvmWorld(int size, Duration timeout, int maxDelayMicros, long delaySeed) {
        if (size <= 0) {
            throw new IllegalArgumentException("world size must be positive, got " + size);
        }
        this.size = size;
        this.timeout = timeout;
        this.maxDelayMicros = maxDelayMicros;
        this.delaySeed = delaySeed;
    }

    @Override
    public int size() {
        return size;
    }

    /**
     * Fails every pending and future operation of this world with {@code reason} (what ncclCommAbort does): when one
     * rank fails, the others stop waiting for it at once instead of at their timeout.
     */
    @Override
    public void abort(String reason) {
        abortReason = reason;
        for (GroupState g : groups.values()) {
            g.wakeAll();
        }
    }

    /**
     * Bytes moved per kind of group (the name given to {@link #group}, e.g. "tp", "dp", "pp"), summed over every
     * rank's communicator of that kind.
     */
    @Override
    public java.util.Map<String, Long> bytesByGroupName() {
        return CommWorld.bytesByKind(created);
    }

    /** Throws if the world was aborted. */
    void checkAborted(int worldRank, String where) {
        String reason = abortReason;
        if (reason != null) {
            throw new CommTimeoutException("rank " + worldRank + " stopped in " + where + ": the world was aborted ("
                    + reason + ")");
        }
    }

    Duration timeout() {
        return timeout;
    }

    int maxDelayMicros() {
        return maxDelayMicros;
    }

    long delaySeed() {
        return delaySeed;
    }

    /** The communicator of world rank {@code rank} over all ranks. */
    @Override
    public Communicator world(int rank) {
        return group(rank, CommWorld.allRanks(size), "world");
    }

    /**
     * The communicator of world rank {@code rank} in the group of world ranks {@code members} (every member asks
     * with the same list; group rank = position in the list).
     */
    @Override
    public Communicator group(int rank, int[] members, String name) {
        int groupRank = CommWorld.groupRank(rank, members, name, size);
        String label = name + Arrays.toString(members).replace(" ", "");
        GroupState state = groups.computeIfAbsent(label, k -> new GroupState(k, members.clone()));
        InJvmCommunicator c = new InJvmCommunicator(this, state, groupRank, rank);
        created.add(c);
        return c;
    }

    /**
     * Releases what rank {@code rank}'s communicators hold (the threads of their asynchronous queues): called when
     * the rank ends — finished, failed or killed — so a long-lived executor JVM does not collect them run after run.
     */
    @Override
    public void closeRank(int rank) {
        for (InJvmCommunicator c : created) {
            if (c.worldRank() == rank) {
                c.close();
                created.remove(c);
            }
        }
    }

    java.util.concurrent.BlockingQueue<float[]> channel(int fromWorld, int toWorld, String group) {
        return channels.computeIfAbsent(group + ":" + fromWorld + "->" + toWorld,
                k -> new java.util.concurrent.LinkedBlockingQueue<>());
    }
}
