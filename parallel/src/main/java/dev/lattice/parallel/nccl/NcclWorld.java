package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.CommTimeoutException;
import dev.lattice.parallel.comm.CommWorld;
import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.cuda.cudart.CUstream_st;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;

import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

/**
 * Ranks on GPUs talking through NCCL. Each rank first calls {@link #bindRank} on its own thread, then asks for its
 * communicators there; creating one is collective (every member asks for the same group). Ranks may be threads of
 * this JVM or spread over processes, as long as {@link NcclGroupIds} gives every member the same ids.
 */
public final class NcclWorld implements CommWorld {

    /**
     * Groups (by name: tp, dp, pp, ...) whose collectives run on the rank's compute stream instead of a stream of
     * their own: {@code -Dlattice.nccl.computeStreamGroups=tp}. For groups whose every result the next kernel waits
     * for (tensor parallelism), where each collective's two cross-stream handoffs are pure latency; never for groups
     * that overlap communication with compute (data parallelism's bucketed reduction). Default: tp (GPT-2 350M,
     * micro-batch 4, 2x H100, session 7: TP2 27.8 -> 26.5 ms a step, TP2 + sequence parallelism 50.0 -> 43.3);
     * {@code none} puts every group on its own stream.
     */
    static final java.util.Set<String> COMPUTE_STREAM_GROUPS = computeStreamGroups(
            System.getProperty("lattice.nccl.computeStreamGroups", "tp"));

    /**
     * Groups whose communicators are blocking ({@code config.blocking = 1}): {@code -Dlattice.nccl.blockingGroups},
     * read when the world is made; default {@code tp,dp}. A non-blocking communicator answers every collective with
     * ncclInProgress and launches it from a thread of NCCL's, which costs the host ~0.2 ms a call; a blocking one
     * launches on the caller's thread. Tensor parallelism's collectives sit on the compute stream and each result is
     * needed at once, so that wait was paid on every one of them: blocking TP communicators made 350M TP2 13 % and
     * TP2 with sequence parallelism 36 % faster (H200, session 10). The waits stay bounded: a blocking start-up runs
     * on a helper thread (the rank fails at the timeout or the world's abort, naming the group), and the watchdog
     * aborts a communicator whose caller is held inside NCCL past the timeout (a peer that never connects), which
     * releases the call. DP's collectives are asynchronous and launched lazily anyway; blocking DP communicators
     * measured +0.3 % at 124M DP2 (H200, session 10, within one run's spread, positive in both calls), so they are
     * blocking too. {@code none} makes every group non-blocking.
     */
    private final java.util.Set<String> blockingGroups = computeStreamGroups(
            System.getProperty("lattice.nccl.blockingGroups", "tp,dp"));

    /** The group names of a comma-separated list ("none" or empty: no group). */
    static java.util.Set<String> computeStreamGroups(String list) {
        return java.util.Arrays.stream(list.split(",")).map(String::trim)
                .filter(g -> !g.isEmpty() && !g.equals("none"))
                .collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** Communicator creation waits at least this long: NCCL start-up takes seconds whatever the step timeout. */
    private static final Duration MIN_INIT_TIMEOUT = Duration.ofMinutes(2);

    /** A rank's device and the stream its compute kernels run on. */
    private record Binding(int device, CUstream_st computeStream) {
    }

    private final int size;
    private final Duration timeout;
    private final NcclGroupIds ids;
    private final AtomicReferenceArray<Binding> bindings;
    private final Map<String, NcclCommunicator> communicators = new ConcurrentHashMap<>();
    private volatile String abortReason;

    /**
     * @param timeout bound of every wait of an operation (a missing or hung peer is reported after it)
     */
    public NcclWorld(int size, Duration timeout, NcclGroupIds ids) {
        if (size <= 0) {
            throw new IllegalArgumentException("world size must be positive, got " + size);
        }
        this.size = size;
        this.timeout = timeout;
        this.ids = ids;
        this.bindings = new AtomicReferenceArray<>(size);
    }

    /**
     * Binds world rank {@code rank} to CUDA device {@code cudaDevice} and to the stream its compute runs on
     * ({@code null}: the legacy default stream), and makes the device current on the calling thread. Call it on
     * the rank's own thread before asking for its communicators.
     */
    public void bindRank(int rank, int cudaDevice, CUstream_st computeStream) {
        checkRank(rank);
        Cuda.check(cudaSetDevice(cudaDevice), "cudaSetDevice(" + cudaDevice + ") for rank " + rank);
        bindings.set(rank, new Binding(cudaDevice, computeStream));
    }

    @Override
    public int size() {
        return size;
    }

    public Duration timeout() {
        return timeout;
    }

    /**
     * Aborts (ncclCommAbort) every communicator of this world; their pending and future operations throw naming
     * {@code reason}. Safe from any thread, e.g. a watchdog or the thread of a rank that failed.
     */
    @Override
    public void abort(String reason) {
        if (abortReason == null) {
            abortReason = reason;
        }
        for (NcclCommunicator c : communicators.values()) {
            c.abortFromWorld(reason);
        }
    }

    String abortReason() {
        return abortReason;
    }

    @Override
    public Map<String, Long> bytesByGroupName() {
        return CommWorld.bytesByKind(communicators.values());
    }

    @Override
    public NcclCommunicator world(int rank) {
        return group(rank, CommWorld.allRanks(size), "world");
    }

    /**
     * Rank {@code rank}'s communicator of the group, created on the first request (collectively: every member
     * must ask, each from its own thread) and the same object afterwards.
     */
    @Override
    public NcclCommunicator group(int rank, int[] members, String name) {
        return group(rank, members, name, COMPUTE_STREAM_GROUPS.contains(name));
    }

    /** {@link #group}, its operations on the rank's compute stream when {@code onComputeStream} (on first creation). */
    NcclCommunicator group(int rank, int[] members, String name, boolean onComputeStream) {
        checkRank(rank);
        int groupRank = CommWorld.groupRank(rank, members, name, size);
        String label = NcclGroupIds.key(name, members);
        String key = rank + "@" + label;
        NcclCommunicator existing = communicators.get(key);
        if (existing != null) {
            if (existing.onComputeStream() != onComputeStream) {
                throw new IllegalStateException("rank " + rank + "'s communicator of group " + label + " exists on "
                        + (existing.onComputeStream() ? "the compute stream" : "a stream of its own")
                        + "; asked for the other");
            }
            return existing;
        }
        String reason = abortReason;
        if (reason != null) {
            throw new CommTimeoutException("rank " + rank + " cannot create the communicator of group " + label
                    + ": the world was aborted (" + reason + ")");
        }
        Binding b = bindings.get(rank);
        if (b == null) {
            throw new IllegalStateException("rank " + rank + " asked for group " + label
                    + " before bindRank(rank, device, stream) on its thread");
        }
        Cuda.check(cudaSetDevice(b.device()), "cudaSetDevice(" + b.device() + ") for group " + label);
        byte[] id = ids.idFor(label);
        NcclCommunicator c = new NcclCommunicator(this, label, members, groupRank, rank, b.device(),
                b.computeStream(), onComputeStream, blockingGroups.contains(name), timeout.toNanos());
        communicators.put(key, c); // before init, so that an abort reaches a communicator still starting
        try {
            c.init(id, Math.max(timeout.toNanos(), MIN_INIT_TIMEOUT.toNanos()));
        } catch (RuntimeException e) {
            try {
                c.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return c;
    }

    /** Closes rank {@code rank}'s communicators (destroying them, or aborting after a failure) and unbinds it. */
    @Override
    public void closeRank(int rank) {
        checkRank(rank);
        RuntimeException first = null;
        for (NcclCommunicator c : communicators.values()) {
            if (c.worldRank() == rank) {
                try {
                    c.close();
                } catch (RuntimeException e) {
                    first = first == null ? e : first;
                }
            }
        }
        bindings.set(rank, null);
        if (first != null) {
            throw first;
        }
    }

    /** Drops a closed communicator from the cache. */
    void forget(NcclCommunicator c) {
        communicators.remove(c.worldRank() + "@" + c.name(), c);
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " outside the world of " + size);
        }
    }
}
