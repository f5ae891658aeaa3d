package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.CommBuffer;
import dev.lattice.parallel.comm.CommStats;
import dev.lattice.parallel.comm.CommTimeoutException;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.comm.Work;
import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.parallel.cuda.CudaException;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclConfig_t;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.BytePointer;

import java.lang.ref.Reference;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.bytedeco.cuda.global.cudart.cudaDeviceGetStreamPriorityRange;
import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventQuery;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithPriority;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;
import static org.bytedeco.cuda.global.nccl.ncclAllGather;
import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclBroadcast;
import static org.bytedeco.cuda.global.nccl.ncclCommAbort;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.ncclCommGetAsyncError;
import static org.bytedeco.cuda.global.nccl.ncclCommInitRankConfig;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclGetLastError;
import static org.bytedeco.cuda.global.nccl.ncclGroupEnd;
import static org.bytedeco.cuda.global.nccl.ncclGroupStart;
import static org.bytedeco.cuda.global.nccl.ncclInProgress;
import static org.bytedeco.cuda.global.nccl.ncclRecv;
import static org.bytedeco.cuda.global.nccl.ncclReduceScatter;
import static org.bytedeco.cuda.global.nccl.ncclSend;
import static org.bytedeco.cuda.global.nccl.ncclSuccess;
import static org.bytedeco.cuda.global.nccl.ncclSum;

/**
 * One rank's NCCL communicator of one group, fp32 only. Operations run on the communicator's own CUDA stream,
 * ordered after the work already queued on the rank's compute stream, and the compute stream is ordered after
 * them, so later kernels see the results without a host synchronization. Blocking operations then wait on the
 * host, polling, bounded by the world's timeout; a timeout or an NCCL error aborts the communicator
 * ({@code ncclCommAbort}) and names the rank, group and operation.
 *
 * <p>The NCCL communicator is non-blocking ({@code config.blocking = 0}): NCCL calls return at once and the
 * connection set-up they may start (which waits for the peers) is polled like everything else, so a missing rank is
 * reported at the timeout instead of hanging inside NCCL. Device buffers are used in place; host arrays are staged
 * through device scratch and pinned memory.
 */
public final class NcclCommunicator implements Communicator {

    /** An NCCL call on the live communicator, made under its lock. */
    private interface NcclCall {
        int enqueue(ncclComm comm);
    }

    private static final AtomicLong ORDER = new AtomicLong();

    private final NcclWorld world;
    private final String label;
    private final int[] members;
    private final int rank;
    private final int worldRank;
    private final int device;
    private final long timeoutNanos;
    private final CUstream_st compute;
    private final CUstream_st stream;
    private final boolean onCompute; // stream is the compute stream: no ordering events between the two
    private final boolean blocking;  // config.blocking = 1: NCCL calls launch on the caller's thread
    private final CUevent_st ready;
    private final EventPool events;
    private final Scratch scratch;
    private final CommStats stats = new CommStats();
    private volatile List<Traced> trace; // non-null while collectives are traced (diagnostics)
    private final long order = ORDER.incrementAndGet(); // lock order when one group end launches several
    private final AtomicBoolean closing = new AtomicBoolean();
    private volatile boolean closed;

    /**
     * Whether blocking operations on device buffers return once they are ordered before the compute stream's later
     * work, without the host waiting for them (no host synchronisation inside a training step); a watchdog aborts
     * any of them that outlives the timeout. {@code -Dlattice.nccl.deferCompletion=false} makes the host wait, as
     * host buffers always do.
     */
    static final boolean DEFER_COMPLETION = !"false".equals(System.getProperty("lattice.nccl.deferCompletion"));

    /**
     * Whether an asynchronous collective on the communicator's own stream returns while NCCL is still launching it.
     * A non-blocking communicator answers every collective with ncclInProgress and launches it from a thread of its
     * own; waiting for that (0.2-0.25 ms a call on an H200 host) held the host between ZeRO's per-bucket optimizer
     * launches, with the GPU idle. The launch is settled instead (polled to ncclSuccess, then its completion event
     * recorded after it) when its Work is awaited or before the communicator's next call, whichever comes first.
     * Not for groups on the compute stream: kernels queued meanwhile would run before the collective.
     * {@code -Dlattice.nccl.lazyLaunch=false} waits at once, as before (A/B runs).
     */
    static final boolean LAZY_LAUNCH = !"false".equals(System.getProperty("lattice.nccl.lazyLaunch"));

    /** An asynchronous collective NCCL is still launching; {@code traceBefore} is null unless traced. */
    private record PendingLaunch(String what, long start, EventWork work, List<Traced> trace,
                                 CUevent_st traceBefore) {
    }

    private volatile long blockingCallStart; // nanoTime | 1 while the rank's thread is inside a blocking NCCL call
    private volatile String blockingCallWhat;
    private final AtomicReference<PendingLaunch> pendingLaunch = new AtomicReference<>(); // settled exactly once

    /** A device-only operation whose completion nobody waited for yet: its event, name and start. */
    private record Deferred(CUevent_st done, String what, long start) {
    }

    private final Object lock = new Object();
    private final ArrayDeque<Deferred> deferred = new ArrayDeque<>(); // guarded by lock
    private ncclComm comm;        // guarded by lock: null before init, after abort or destroy
    private String stopped;       // guarded by lock: why this communicator can no longer be used
    private boolean groupPending; // guarded by lock: operations sit in this thread's open NCCL group

    /**
     * Creates the stream and events (on the current device, which must be {@code device}); see {@link #init}.
     * {@code onCompute}: the operations go on the compute stream itself (for a latency-bound group whose every
     * result the next kernel needs, such as tensor parallelism's: no event record and stream wait on each side of
     * each collective, nothing to overlap anyway); else on a stream of the communicator's own.
     */
    NcclCommunicator(NcclWorld world, String label, int[] members, int rank, int worldRank, int device,
                     CUstream_st compute, boolean onCompute, long timeoutNanos) {
        this(world, label, members, rank, worldRank, device, compute, onCompute, false, timeoutNanos);
    }

    /** As above; {@code blocking}: an NCCL communicator with {@code config.blocking = 1} (see NcclWorld). */
    NcclCommunicator(NcclWorld world, String label, int[] members, int rank, int worldRank, int device,
                     CUstream_st compute, boolean onCompute, boolean blocking, long timeoutNanos) {
        this.blocking = blocking;
        this.world = world;
        this.label = label;
        this.members = members.clone();
        this.rank = rank;
        this.worldRank = worldRank;
        this.device = device;
        this.compute = compute;
        this.timeoutNanos = timeoutNanos;
        this.onCompute = onCompute && compute != null;
        if (this.onCompute) {
            this.stream = compute;
        } else { // non-blocking: work on the legacy default stream must not serialize with communication
            this.stream = new CUstream_st();
            Cuda.check(cudaStreamCreateWithPriority(stream, cudaStreamNonBlocking, streamPriority()),
                    "cudaStreamCreateWithPriority for the communicator of " + label);
        }
        CUevent_st e;
        try {
            e = EventPool.create("the ordering event of " + label);
        } catch (RuntimeException ex) {
            if (!this.onCompute) {
                cudaStreamDestroy(stream);
            }
            throw ex;
        }
        this.ready = e;
        this.events = new EventPool(label);
        this.scratch = new Scratch("the communicator of " + label);
    }

    /**
     * The communication stream's priority: {@code -Dlattice.nccl.streamPriority=high} gives it the device's greatest
     * (the collectives' blocks are scheduled ahead of the products' as SMs free up, as PyTorch's high-priority NCCL
     * streams are); the default leaves it at the default priority.
     */
    private static int streamPriority() {
        if (!"high".equals(System.getProperty("lattice.nccl.streamPriority"))) {
            return 0;
        }
        int[] least = new int[1];
        int[] greatest = new int[1];
        Cuda.check(cudaDeviceGetStreamPriorityRange(least, greatest), "cudaDeviceGetStreamPriorityRange");
        return greatest[0];
    }

    /** ncclCommInitRank among the members (each calls it from its own thread), bounded by {@code limitNanos}. */
    void init(byte[] id, long limitNanos) {
        long start = System.nanoTime();
        String what = "ncclCommInitRank (rank " + rank + " of " + members.length + ")";
        ncclUniqueId uid = UniqueIds.toNative(id);
        ncclConfig_t config = Nccl.config(blocking);
        ncclComm c = new ncclComm();
        int rc = blocking ? initBlocking(c, uid, config, what, start, limitNanos)
                : ncclCommInitRankConfig(c, members.length, uid, rank, config);
        synchronized (lock) {
            if (!c.isNull()) {
                comm = c;
                if (stopped != null) {
                    abortLocked(stopped); // the world was aborted while NCCL was starting
                }
            }
        }
        try {
            settle(rc, what, start, limitNanos);
        } finally {
            // NCCL should have copied both during the call; keep them alive until start-up ends all the same.
            Reference.reachabilityFence(uid);
            Reference.reachabilityFence(config);
        }
    }

    /**
     * A blocking communicator's start-up, which returns only once every member has joined: on a daemon thread,
     * waited for in short slices until {@code limitNanos} from {@code start} pass or the world is aborted; then the
     * rank fails naming the group, and the thread stays behind inside NCCL (nothing can abort a communicator NCCL
     * has not returned yet). Should that start-up finish later after all, the thread aborts the communicator
     * instead of leaving it behind.
     */
    private int initBlocking(ncclComm c, ncclUniqueId uid, ncclConfig_t config, String what, long start,
                             long limitNanos) {
        AtomicBoolean abandoned = new AtomicBoolean(); // both flags change under the lock
        AtomicBoolean handedOver = new AtomicBoolean();
        FutureTask<Integer> init = new FutureTask<>(() -> {
            Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ") for " + what + " of group " + label);
            int rc = ncclCommInitRankConfig(c, members.length, uid, rank, config);
            synchronized (lock) {
                if (abandoned.get()) {
                    if (!c.isNull()) {
                        ncclCommAbort(c); // the rank gave up waiting: nobody will use or destroy it
                    }
                } else {
                    handedOver.set(true);
                }
            }
            return rc;
        });
        Thread t = new Thread(init, "nccl-init-" + label + "-rank-" + rank);
        t.setDaemon(true);
        t.start();
        long slice = TimeUnit.MILLISECONDS.toNanos(50);
        try {
            while (true) {
                try {
                    return init.get(slice, TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    String reason = world.abortReason();
                    boolean late = System.nanoTime() - start > limitNanos;
                    if (reason == null && !late) {
                        continue;
                    }
                    synchronized (lock) {
                        if (handedOver.get()) {
                            continue; // it finished just now: take the communicator (init() aborts it if need be)
                        }
                        abandoned.set(true);
                    }
                    String why = reason != null ? "was stopped: the world was aborted (" + reason + ")"
                            : "did not finish within " + Duration.ofNanos(limitNanos)
                            + ": a member never joined";
                    throw new CommTimeoutException("rank " + worldRank + ": " + what + " of group " + label
                            + " (blocking communicator) " + why);
                }
            }
        } catch (InterruptedException e) {
            synchronized (lock) {
                if (!handedOver.get()) {
                    abandoned.set(true);
                } else if (!c.isNull()) {
                    ncclCommAbort(c); // made, but this rank will not use it
                }
            }
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during " + what + " of group " + label, e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r
                    : new IllegalStateException(what + " of group " + label + " failed", e.getCause());
        }
    }

    /** Whether NCCL calls launch on the caller's thread (a blocking communicator). */
    boolean blocking() {
        return blocking;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return members.length;
    }

    @Override
    public String name() {
        return label;
    }

    @Override
    public CommStats stats() {
        return stats;
    }

    int worldRank() {
        return worldRank;
    }

    /** Whether its operations run on the rank's compute stream rather than a stream of its own. */
    boolean onComputeStream() {
        return onCompute;
    }

    @Override
    public void allReduce(CommBuffer buf, long off, long count, ReduceOp op) {
        String what = "allReduce(" + op + ") of " + count + " floats";
        Staging st = staging(what);
        run(what, st, allReduceCall(st, buf, off, count, op));
        stats.add(CommStats.Op.ALL_REDUCE, allReduceBytes(count, st.elementBytes()));
    }

    @Override
    public void reduceScatter(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count,
                              ReduceOp op) {
        String what = "reduceScatter(" + op + ") of " + count + " elements per rank";
        Staging st = staging(what);
        NcclCall call = reduceScatterCall(st, send, sendOff, recv, recvOff, count, op);
        run(what, st, call);
        stats.add(CommStats.Op.REDUCE_SCATTER, (long) (size() - 1) * count * st.elementBytes());
    }

    /** Device operands that do not alias: asynchronous on the communication stream; otherwise blocking. */
    @Override
    public Work reduceScatterAsync(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count,
                                   ReduceOp op) {
        String what = "reduceScatter(" + op + ") of " + count + " elements per rank";
        Staging st = staging(what);
        NcclCall call = reduceScatterCall(st, send, sendOff, recv, recvOff, count, op);
        stats.add(CommStats.Op.REDUCE_SCATTER, (long) (size() - 1) * count * st.elementBytes());
        return runAsync(what, st, call);
    }

    private NcclCall reduceScatterCall(Staging st, CommBuffer send, long sendOff, CommBuffer recv, long recvOff,
                                       long count, ReduceOp op) {
        int n = size();
        Staging.Operand s = st.add(send, sendOff, count * n, true, false);
        Staging.Operand r = st.add(recv, recvOff, count, false, true);
        int type = st.dataType();
        int eb = st.elementBytes();
        // NCCL's in-place form (recv = send + rank·count) is fine; any other aliasing is not.
        if (!s.staged() && !r.staged() && r.address() != s.address() + (long) eb * rank * count
                && Staging.overlap(s, r)) {
            st.stage(s);
        }
        return c -> ncclReduceScatter(Addr.of(s.address()), Addr.of(r.address()), count, type, Nccl.redOp(op), c,
                stream);
    }

    @Override
    public void allGather(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count) {
        String what = "allGather of " + count + " elements per rank";
        Staging st = staging(what);
        NcclCall call = allGatherCall(st, send, sendOff, recv, recvOff, count);
        run(what, st, call);
        stats.add(CommStats.Op.ALL_GATHER, (long) (size() - 1) * count * st.elementBytes());
    }

    /** Device operands that do not alias: asynchronous on the communication stream; otherwise blocking. */
    @Override
    public Work allGatherAsync(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count) {
        String what = "allGather of " + count + " elements per rank";
        Staging st = staging(what);
        NcclCall call = allGatherCall(st, send, sendOff, recv, recvOff, count);
        stats.add(CommStats.Op.ALL_GATHER, (long) (size() - 1) * count * st.elementBytes());
        return runAsync(what, st, call);
    }

    private NcclCall allGatherCall(Staging st, CommBuffer send, long sendOff, CommBuffer recv, long recvOff,
                                   long count) {
        int n = size();
        Staging.Operand s = st.add(send, sendOff, count, true, false);
        Staging.Operand r = st.add(recv, recvOff, count * n, false, true);
        int type = st.dataType();
        int eb = st.elementBytes();
        // NCCL's in-place form (send = recv + rank·count, as ZeRO's sharded parameters use it) is fine.
        if (!s.staged() && !r.staged() && s.address() != r.address() + (long) eb * rank * count
                && Staging.overlap(s, r)) {
            st.stage(s);
        }
        return c -> ncclAllGather(Addr.of(s.address()), Addr.of(r.address()), count, type, c, stream);
    }

    @Override
    public void broadcast(CommBuffer buf, long off, long count, int root) {
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("broadcast root " + root + " outside group " + label);
        }
        String what = "broadcast of " + count + " floats from rank " + members[root];
        Staging st = staging(what);
        Staging.Operand b = st.add(buf, off, count, rank == root, true);
        int type = st.dataType();
        run(what, st, c -> ncclBroadcast(Addr.of(b.address()), Addr.of(b.address()), count, type, root,
                c, stream));
        stats.add(CommStats.Op.BROADCAST, size() == 1 ? 0 : count * st.elementBytes());
    }

    @Override
    public void barrier() {
        Staging st = staging("barrier");
        Staging.Operand token = st.scratchOnly(1);
        run("barrier", st, c -> ncclAllReduce(Addr.of(token.address()), Addr.of(token.address()), 1, ncclFloat32,
                ncclSum, c, stream));
        stats.add(CommStats.Op.BARRIER, 0);
    }

    @Override
    public void send(CommBuffer buf, long off, long count, int peer) {
        checkPeer(peer);
        String what = "send of " + count + " floats to rank " + members[peer];
        Staging st = staging(what);
        Staging.Operand b = st.add(buf, off, count, true, false);
        int type = st.dataType();
        pointToPoint(what, st, c -> ncclSend(Addr.of(b.address()), count, type, peer, c, stream));
        stats.add(CommStats.Op.SEND, count * st.elementBytes());
    }

    @Override
    public void recv(CommBuffer buf, long off, long count, int peer) {
        checkPeer(peer);
        String what = "recv of " + count + " floats from rank " + members[peer];
        Staging st = staging(what);
        Staging.Operand b = st.add(buf, off, count, false, true);
        int type = st.dataType();
        pointToPoint(what, st, c -> ncclRecv(Addr.of(b.address()), count, type, peer, c, stream));
        stats.add(CommStats.Op.RECV, 0);
    }

    @Override
    public void groupStart() {
        checkOpen();
        Nccl.check(ncclGroupStart(), "ncclGroupStart on group " + label);
        NcclGroup.current().start();
    }

    /**
     * Launches the grouped sends and receives (at the outermost end) and waits, bounded, for each communicator's
     * part to complete.
     */
    @Override
    public void groupEnd() {
        NcclGroup g = NcclGroup.current();
        if (g.depth() == 0) {
            throw new IllegalStateException("groupEnd without groupStart on group " + label);
        }
        Map<NcclCommunicator, List<String>> launched = g.end();
        if (launched.isEmpty()) {
            Nccl.check(ncclGroupEnd(), "ncclGroupEnd on group " + label);
            return;
        }
        List<NcclCommunicator> comms = new ArrayList<>(launched.keySet());
        comms.sort(Comparator.comparingLong(c -> c.order));
        int rc = comms.stream().anyMatch(c -> c.blocking) ? launchUnlocked(comms) : launch(comms, 0);
        if (rc != ncclSuccess && rc != ncclInProgress) {
            CudaException e = Nccl.error(rc, "ncclGroupEnd of " + launched);
            for (NcclCommunicator c : comms) {
                synchronized (c.lock) {
                    c.abortLocked(e.getMessage());
                }
            }
            throw e;
        }
        for (Map.Entry<NcclCommunicator, List<String>> e : launched.entrySet()) {
            e.getKey().finishGroup(String.join(", ", e.getValue()), g.startNanos());
        }
    }

    /** ncclGroupEnd under the locks of every communicator it launches (taken in a fixed order). */
    private static int launch(List<NcclCommunicator> comms, int i) {
        if (i == comms.size()) {
            return ncclGroupEnd();
        }
        NcclCommunicator c = comms.get(i);
        synchronized (c.lock) {
            int rc = launch(comms, i + 1);
            c.groupPending = false;
            if (c.stopped != null) {
                c.abortLocked(c.stopped); // deferred while its operations sat in the open group
            }
            return rc;
        }
    }

    /**
     * ncclGroupEnd of a group with a blocking communicator, which may wait inside NCCL for a peer: without the locks,
     * and abortable from then on (NCCL owns the grouped operations once ncclGroupEnd is called; ncclCommAbort from
     * the watchdog or the world's abort is what releases a launch stuck there).
     */
    private static int launchUnlocked(List<NcclCommunicator> comms) {
        for (NcclCommunicator c : comms) {
            synchronized (c.lock) {
                if (c.stopped != null) {
                    return launch(comms, 0); // one was stopped already: launch, then abort, as for non-blocking
                }
            }
        }
        for (NcclCommunicator c : comms) {
            synchronized (c.lock) {
                c.groupPending = false;
            }
        }
        return ncclGroupEnd();
    }

    private void finishGroup(String ops, long start) {
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ") for " + ops + " of group " + label);
        awaitIdle(ops, start, timeoutNanos);
        completeOnStream(ops, start);
    }

    /** Device buffers: asynchronous on the communication stream. Host buffers: blocking (copied back at the end). */
    @Override
    public Work allReduceAsync(CommBuffer buf, long off, long count, ReduceOp op) {
        String what = "allReduce(" + op + ") of " + count + " floats";
        Staging st = staging(what);
        NcclCall call = allReduceCall(st, buf, off, count, op);
        stats.add(CommStats.Op.ALL_REDUCE, allReduceBytes(count, st.elementBytes()));
        return runAsync(what, st, call);
    }

    private NcclCall allReduceCall(Staging st, CommBuffer buf, long off, long count, ReduceOp op) {
        Staging.Operand b = st.add(buf, off, count, true, true);
        int type = st.dataType();
        return c -> ncclAllReduce(Addr.of(b.address()), Addr.of(b.address()), count, type, Nccl.redOp(op), c,
                stream);
    }

    /**
     * An operation of an {@code Async} method: asynchronous when every operand is a device buffer used in place;
     * blocking (and done on return) when one goes through scratch (host arrays, aliasing ranges).
     */
    private Work runAsync(String what, Staging st, NcclCall call) {
        if (st.anyStaged()) {
            run(what, st, call);
            return Work.DONE;
        }
        return enqueueAsync(what, call);
    }

    /** Enqueues after the compute stream's work so far and returns the event that marks completion. */
    private Work enqueueAsync(String what, NcclCall call) {
        long start = begin(what);
        orderAfterCompute(what);
        if (LAZY_LAUNCH && !onCompute) {
            List<Traced> t = trace;
            CUevent_st before = t == null ? null : tracedEvent(what);
            int rc = submit(what, call);
            if (rc == ncclInProgress) {
                EventWork w = new EventWork(what, null, start);
                w.launching = true;
                pendingLaunch.set(new PendingLaunch(what, start, w, t, before));
                return w;
            }
            settle(rc, what, start, timeoutNanos);
            traced(t, what, before);
        } else {
            enqueue(what, call, start);
        }
        return new EventWork(what, recordDone(what), start);
    }

    /** An event recorded on the stream after the operation just launched there (taken from the pool). */
    private CUevent_st recordDone(String what) {
        CUevent_st done = events.take();
        int rc = cudaEventRecord(done, stream);
        if (rc != 0) {
            events.give(done);
            Cuda.check(rc, "cudaEventRecord after " + what + " of group " + label);
        }
        return done;
    }

    /**
     * Finishes the asynchronous collective NCCL was still launching, if any: waits (bounded) until NCCL has, then
     * records its completion event and hands it to its Work. Before any other call on this communicator.
     */
    private void settleLaunch() {
        PendingLaunch p = pendingLaunch.getAndSet(null);
        if (p == null) {
            return;
        }
        try {
            Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ") to finish launching " + p.what());
            awaitIdle(p.what(), p.start(), timeoutNanos);
            traced(p.trace(), p.what(), p.traceBefore());
            p.work().launched(recordDone(p.what()));
        } catch (RuntimeException e) {
            p.work().launchFailed(e);
            throw e;
        }
    }

    private long allReduceBytes(long count, int elementBytes) {
        int n = size();
        return n == 1 ? 0 : 2L * (n - 1) * count * elementBytes / n;
    }

    /** Tears the NCCL communicator down (ncclCommFinalize + ncclCommDestroy, or ncclCommAbort) and frees memory. */
    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        try {
            Devices.on(device, () -> {
                try {
                    try {
                        settleLaunch();
                        awaitDeferred();
                    } catch (RuntimeException e) {
                        // aborted (and reported) already: destroy() below aborts instead of finalizing
                    }
                    destroy();
                } finally {
                    synchronized (lock) {
                        closed = true; // the watchdog stops here before the events go
                        deferred.clear();
                    }
                    freeResources();
                }
            });
        } finally {
            world.forget(this);
        }
    }

    /** From the world's abort, possibly on another thread. */
    void abortFromWorld(String reason) {
        synchronized (lock) {
            if (stopped == null || comm != null) {
                Devices.on(device, () -> abortLocked("the world was aborted (" + reason + ")"));
            }
        }
    }

    // ---- the steps of an operation ----

    private Staging staging(String what) {
        return new Staging(what + " of group " + label, device);
    }

    /** Checks the communicator can run a collective now and selects its device; returns the start time. */
    private long begin(String what) {
        checkOpen();
        if (NcclGroup.current().open()) {
            throw new IllegalStateException(what + " of group " + label
                    + " inside groupStart/groupEnd: only send and recv can be grouped");
        }
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ") for " + what + " of group " + label);
        settleLaunch();
        reapDeferred();
        synchronized (lock) {
            checkUsableLocked(what); // a deferred operation may have failed or timed out meanwhile
        }
        return System.nanoTime();
    }

    /** A blocking operation: enqueue after the compute stream's work, wait (bounded) for it, copy host results. */
    private void run(String what, Staging st, NcclCall call) {
        long start = begin(what);
        boolean defer = DEFER_COMPLETION && !st.anyStaged();
        if (!defer) {
            awaitDeferred(); // a timeout then names the operation that hangs, not this one
        }
        orderAfterCompute(what);
        st.copyIn(scratch, stream);
        enqueue(what, call, start);
        st.copyOut(scratch, stream);
        if (defer) {
            completeLater(what, start);
            return;
        }
        completeOnStream(what, start);
        st.finish(scratch);
    }

    /** Orders the compute stream after the operation and leaves its completion to {@link #reapDeferred}. */
    private void completeLater(String what, long start) {
        deferCompletion(orderComputeAfter(what), what, start);
    }

    /** Leaves the completion of {@code done} to {@link #reapDeferred} and the watchdog (which bound its time). */
    private void deferCompletion(CUevent_st done, String what, long start) {
        synchronized (lock) {
            deferred.addLast(new Deferred(done, what, start));
        }
        Watchdog.watch(this);
    }

    /** The watchdog's visit: reaps on this communicator's device; false once nothing is left to watch. */
    boolean watchOnce() {
        if (closed || closing.get()) {
            return false;
        }
        Devices.on(device, () -> {
            checkBlockingCall();
            reapDeferred();
        });
        return needsWatching();
    }

    /**
     * Returns the events of completed deferred operations; the oldest one still running past the timeout aborts the
     * communicator, naming it. Never waits. Called at the start of every operation and by the world's watchdog.
     */
    void reapDeferred() {
        synchronized (lock) {
            if (closed) {
                return; // the events are (being) destroyed
            }
            while (!deferred.isEmpty()) {
                Deferred d = deferred.peekFirst();
                int rc = cudaEventQuery(d.done());
                if (rc == cudaErrorNotReady) {
                    long waited = System.nanoTime() - d.start();
                    if (waited > timeoutNanos && stopped == null) {
                        abortLocked(String.format(Locale.ROOT, "rank %d of %s: %s did not complete within %.1f s;"
                                + " communicator aborted", worldRank, label, d.what(), waited / 1e9));
                    }
                    return;
                }
                deferred.pollFirst();
                events.give(d.done());
                if (rc != 0) {
                    abortLocked("cudaEventQuery after " + d.what() + " of group " + label + " failed: error " + rc);
                    return;
                }
            }
        }
    }

    /** Whether the watchdog has something to bound: deferred operations outstanding, or a blocking call inside NCCL. */
    boolean needsWatching() {
        if (closed || closing.get()) {
            return false;
        }
        synchronized (lock) {
            return !deferred.isEmpty() || blockingCallStart != 0;
        }
    }

    /** Waits, bounded from each one's start, for every deferred operation (before a host-blocking one). */
    private void awaitDeferred() {
        while (true) {
            Deferred d;
            synchronized (lock) {
                d = deferred.pollFirst();
            }
            if (d == null) {
                return;
            }
            try {
                awaitEvent(d.done(), d.what(), d.start(), timeoutNanos);
            } finally {
                events.give(d.done());
            }
        }
    }

    /** Inside a group, send/recv only enqueue (the outermost groupEnd launches and waits); outside, they block. */
    private void pointToPoint(String what, Staging st, NcclCall call) {
        NcclGroup g = NcclGroup.current();
        if (!g.open()) {
            run(what, st, call);
            return;
        }
        checkOpen();
        if (st.anyHost()) {
            throw new IllegalArgumentException(what + " of group " + label + ": host buffers cannot be sent or"
                    + " received inside groupStart/groupEnd (they are copied only after completion); pass device"
                    + " buffers");
        }
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ") for " + what + " of group " + label);
        settleLaunch();
        g.touch(this, what);
        // Every time, not once per group: the caller may queue compute between grouped calls (e.g. zeroing the
        // tensor a recv fills), and the launch at groupEnd must come after all of it.
        orderAfterCompute(what);
        int rc;
        synchronized (lock) {
            checkUsableLocked(what);
            rc = call.enqueue(comm);
            groupPending = true;
        }
        if (rc != ncclSuccess && rc != ncclInProgress) {
            throw failed(rc, what);
        }
    }

    private void orderAfterCompute(String what) {
        if (onCompute) {
            return; // one stream: already in order
        }
        Cuda.check(cudaEventRecord(ready, compute),
                "cudaEventRecord on the compute stream before " + what + " of group " + label);
        Cuda.check(cudaStreamWaitEvent(stream, ready, 0),
                "cudaStreamWaitEvent of the communication stream before " + what + " of group " + label);
    }

    private void enqueue(String what, NcclCall call, long start) {
        List<Traced> t = trace;
        CUevent_st before = t == null ? null : tracedEvent(what);
        settle(submit(what, call), what, start, timeoutNanos);
        traced(t, what, before);
    }

    /**
     * The NCCL call on the live communicator: its return code (ncclInProgress while NCCL still launches it). A
     * non-blocking communicator's call returns at once and is made under the lock, so that no abort frees the
     * communicator under it. A blocking communicator's call may wait inside NCCL for a peer (connection set-up),
     * so it is made outside the lock: the watchdog and the world's abort must still reach ncclCommAbort, which is
     * what releases a call stuck there.
     */
    private int submit(String what, NcclCall call) {
        if (!blocking) {
            synchronized (lock) {
                checkUsableLocked(what);
                return call.enqueue(comm);
            }
        }
        ncclComm c;
        synchronized (lock) {
            checkUsableLocked(what);
            c = comm;
        }
        blockingCallWhat = what;
        blockingCallStart = System.nanoTime() | 1; // 0 means "not inside NCCL"
        Watchdog.watch(this); // bounds the time inside NCCL as it bounds deferred completions
        int rc;
        try {
            rc = call.enqueue(c);
        } finally {
            blockingCallStart = 0;
        }
        synchronized (lock) {
            checkUsableLocked(what); // aborted while inside NCCL: the result is void
        }
        return rc;
    }

    /**
     * The watchdog's check of a blocking communicator's thread inside an NCCL call (waiting for a peer's connection,
     * say): past the timeout it aborts the communicator, which is what releases the call; the caller then fails,
     * naming the call.
     */
    private void checkBlockingCall() {
        long s = blockingCallStart;
        if (s == 0) {
            return;
        }
        long waited = System.nanoTime() - s;
        if (waited <= timeoutNanos) {
            return;
        }
        synchronized (lock) {
            if (stopped == null && blockingCallStart == s) {
                abortLocked(String.format(Locale.ROOT, "rank %d of %s: %s stayed inside NCCL for %.1f s (blocking"
                        + " communicator); communicator aborted", worldRank, label, blockingCallWhat, waited / 1e9));
            }
        }
    }

    /** Closes a traced collective's event pair (no-op when not traced). */
    private void traced(List<Traced> t, String what, CUevent_st before) {
        if (t != null) {
            t.add(new Traced(what, before, tracedEvent(what)));
        }
    }

    /**
     * A traced collective: events recorded on this group's stream just before and just after its NCCL call, so that
     * {@code cudaEventElapsedTime} against an event of the compute stream places it in the step (GPU benchmark
     * timelines). The caller of {@link #stopTrace} owns the events and destroys them.
     */
    public record Traced(String what, CUevent_st before, CUevent_st after) {
    }

    /** Starts recording an event pair around every collective this communicator enqueues from now on. */
    public void startTrace() {
        trace = java.util.Collections.synchronizedList(new ArrayList<>());
    }

    /** Stops recording and returns the collectives traced since {@link #startTrace}, in enqueue order. */
    public List<Traced> stopTrace() {
        settleLaunch(); // the last collective's events join the trace (and are not left behind)
        List<Traced> t = trace;
        trace = null;
        return t == null ? List.of() : List.copyOf(t);
    }

    private CUevent_st tracedEvent(String what) {
        CUevent_st e = new CUevent_st();
        Cuda.check(cudaEventCreate(e), "cudaEventCreate for the trace of " + what + " of group " + label);
        Cuda.check(cudaEventRecord(e, stream), "cudaEventRecord for the trace of " + what + " of group " + label);
        return e;
    }

    /** Orders the compute stream after the operation, then waits on the host for it, bounded. */
    private void completeOnStream(String what, long start) {
        CUevent_st done = orderComputeAfter(what);
        try {
            awaitEvent(done, what, start, timeoutNanos);
        } finally {
            events.give(done);
        }
    }

    /** Records an event after the operation on this group's stream and makes the compute stream wait for it. */
    private CUevent_st orderComputeAfter(String what) {
        CUevent_st done = events.take();
        try {
            Cuda.check(cudaEventRecord(done, stream), "cudaEventRecord after " + what + " of group " + label);
            if (!onCompute) {
                Cuda.check(cudaStreamWaitEvent(compute, done, 0),
                        "cudaStreamWaitEvent of the compute stream after " + what + " of group " + label);
            }
        } catch (RuntimeException e) {
            events.give(done);
            throw e;
        }
        return done;
    }

    /** After an NCCL call: an error aborts this communicator; "in progress" is polled until done, bounded. */
    private void settle(int rc, String what, long start, long limitNanos) {
        if (rc == ncclInProgress) {
            awaitIdle(what, start, limitNanos);
        } else if (rc != ncclSuccess) {
            throw failed(rc, what);
        }
    }

    /** Polls the communicator's state until NCCL finished the host-side part of the last call. */
    private void awaitIdle(String what, long start, long limitNanos) {
        Backoff backoff = new Backoff();
        while (true) {
            int s = state(what);
            if (s == ncclSuccess) {
                return;
            }
            if (s != ncclInProgress) {
                throw failed(s, what);
            }
            checkTime(what, start, limitNanos);
            if (!backoff.pause()) {
                throw interrupted(what);
            }
        }
    }

    /** Polls {@code event} until it completes, watching for NCCL errors, aborts and the timeout. */
    private void awaitEvent(CUevent_st event, String what, long start, long limitNanos) {
        Backoff backoff = new Backoff();
        while (true) {
            int rc = cudaEventQuery(event);
            if (rc == 0) {
                synchronized (lock) {
                    checkUsableLocked(what); // an abort also completes the stream; its results are void
                }
                return;
            }
            if (rc != cudaErrorNotReady) {
                String msg = "cudaEventQuery after " + what + " of group " + label + " (rank " + worldRank + ")";
                synchronized (lock) {
                    abortLocked(msg + " failed");
                }
                Cuda.check(rc, msg);
            }
            int s = state(what);
            if (s != ncclSuccess && s != ncclInProgress) {
                throw failed(s, what);
            }
            checkTime(what, start, limitNanos);
            if (!backoff.pause()) {
                throw interrupted(what);
            }
        }
    }

    /** ncclCommGetAsyncError: ncclSuccess, ncclInProgress or the error that stopped the communicator. */
    private int state(String what) {
        synchronized (lock) {
            checkUsableLocked(what);
            int[] s = new int[1];
            int rc = ncclCommGetAsyncError(comm, s);
            return rc != ncclSuccess ? rc : s[0];
        }
    }

    private void checkTime(String what, long start, long limitNanos) {
        long waited = System.nanoTime() - start;
        if (waited > limitNanos) {
            String msg = String.format(Locale.ROOT, "rank %d of %s waited %.1f s in %s; communicator aborted",
                    worldRank, label, waited / 1e9, what);
            synchronized (lock) {
                abortLocked(msg);
            }
            throw new CommTimeoutException(msg);
        }
    }

    private CommTimeoutException interrupted(String what) {
        String msg = "rank " + worldRank + " interrupted in " + what + " of group " + label
                + "; communicator aborted";
        synchronized (lock) {
            abortLocked(msg);
        }
        return new CommTimeoutException(msg);
    }

    /** An NCCL error: aborts this communicator (NCCL's advice after an error) and describes it. */
    private CudaException failed(int rc, String what) {
        String msg = what + " of group " + label + " (rank " + worldRank + ") failed: " + Nccl.errorString(rc)
                + " (ncclResult " + rc + ")" + lastError() + "; communicator aborted";
        synchronized (lock) {
            abortLocked(msg);
        }
        return new CudaException(msg);
    }

    private String lastError() {
        try {
            synchronized (lock) {
                BytePointer p = ncclGetLastError(comm);
                String s = p == null ? "" : p.getString();
                return s.isEmpty() ? "" : ": " + s;
            }
        } catch (Throwable t) {
            return "";
        }
    }

    private void checkOpen() {
        if (closed || closing.get()) {
            throw new IllegalStateException("the communicator of rank " + worldRank + " in group " + label
                    + " is closed");
        }
    }

    private void checkUsableLocked(String what) {
        if (stopped == null) {
            String reason = world.abortReason();
            if (reason != null) {
                abortLocked("the world was aborted (" + reason + ")");
            }
        }
        if (stopped != null) {
            throw new CommTimeoutException("rank " + worldRank + " stopped in " + what + " of group " + label
                    + ": " + stopped);
        }
        if (comm == null) {
            throw new IllegalStateException("the communicator of rank " + worldRank + " in group " + label
                    + " was never initialized");
        }
    }

    /**
     * Marks this communicator stopped and aborts the NCCL communicator, unless operations of it sit in this
     * thread's open NCCL group: ncclGroupEnd still reads them, so the abort waits for the launch.
     */
    private void abortLocked(String reason) {
        if (stopped == null) {
            stopped = reason;
        }
        if (comm != null && !groupPending) {
            ncclComm c = comm;
            comm = null;
            ncclCommAbort(c); // its result changes nothing: the communicator is gone either way
        }
    }

    private void checkPeer(int peer) {
        if (peer < 0 || peer >= size() || peer == rank) {
            throw new IllegalArgumentException("peer " + peer + " is not another member of group " + label);
        }
    }

    /** Finalize (flushes, polled and bounded) then destroy; abort instead when stopped or when that fails. */
    private void destroy() {
        synchronized (lock) {
            if (comm == null) {
                return;
            }
            String reason = world.abortReason();
            if (stopped != null || reason != null) {
                abortLocked(stopped != null ? stopped : "the world was aborted (" + reason + ")");
                return;
            }
        }
        long start = System.nanoTime();
        try {
            int rc = submit("ncclCommFinalize", org.bytedeco.cuda.global.nccl::ncclCommFinalize);
            settle(rc, "ncclCommFinalize", start, timeoutNanos);
            synchronized (lock) {
                if (comm != null) {
                    ncclComm c = comm;
                    comm = null;
                    stopped = "the communicator was closed";
                    ncclCommDestroy(c); // nothing to do on failure: the handle is released either way
                }
            }
        } catch (RuntimeException e) {
            synchronized (lock) {
                abortLocked("closing failed: " + e.getMessage());
            }
        }
    }

    private void freeResources() {
        List<Runnable> steps = List.of(
                scratch::free,
                events::destroyAll,
                () -> Cuda.check(cudaEventDestroy(ready), "cudaEventDestroy of the ordering event of " + label),
                () -> {
                    if (!onCompute) { // the compute stream is the rank's, not this communicator's
                        Cuda.check(cudaStreamDestroy(stream), "cudaStreamDestroy of the stream of " + label);
                    }
                });
        RuntimeException first = null;
        for (Runnable step : steps) {
            try {
                step.run();
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** An asynchronous collective: its completion event on the communication stream. */
    private final class EventWork implements Work {
        private final String what;
        private final long start;
        private CUevent_st event;
        private RuntimeException failure;
        private volatile boolean launching; // NCCL is still launching it: event comes from settleLaunch

        /** settleLaunch: NCCL has launched the collective and {@code done} follows it on the stream. */
        synchronized void launched(CUevent_st done) {
            event = done;
            launching = false;
        }

        synchronized void launchFailed(RuntimeException e) {
            failure = e;
            launching = false;
        }

        /** Settles this collective's launch if NCCL was still making it; it must not stay in limbo after that. */
        private void settleIfLaunching() {
            if (!launching) {
                return;
            }
            settleLaunch();
            if (launching) {
                throw new IllegalStateException(what + " of group " + label + " is still being launched but is no"
                        + " longer this communicator's pending launch (settled on another thread?)");
            }
        }

        EventWork(String what, CUevent_st event, long start) {
            this.what = what;
            this.event = event;
            this.start = start;
        }

        /**
         * Orders the compute stream after the collective. With deferred completion (the default, as for the blocking
         * operations) the host does not wait: the event joins the deferred operations, whose reaping and the
         * watchdog bound its time (ZeRO-3's gather of each layer no longer holds the host back a layer); without it,
         * a bounded wait from now first.
         */
        @Override
        public synchronized void await() {
            settleIfLaunching();
            if (event == null) {
                if (failure != null) {
                    throw failure;
                }
                return;
            }
            checkOpen();
            CUevent_st e = event;
            event = null;
            boolean deferredNow = false;
            try {
                Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ") to await " + what);
                if (!DEFER_COMPLETION) {
                    awaitEvent(e, what, System.nanoTime(), timeoutNanos);
                }
                if (!onCompute) {
                    Cuda.check(cudaStreamWaitEvent(compute, e, 0),
                            "cudaStreamWaitEvent of the compute stream after " + what + " of group " + label);
                }
                if (DEFER_COMPLETION) {
                    deferCompletion(e, what, start);
                    deferredNow = true;
                }
            } catch (RuntimeException ex) {
                failure = ex;
                throw ex;
            } finally {
                if (!deferredNow) {
                    events.give(e);
                }
            }
        }

        @Override
        public synchronized boolean isDone() {
            settleIfLaunching();
            if (event == null) {
                return true;
            }
            checkOpen();
            int rc = cudaEventQuery(event);
            if (rc == cudaErrorNotReady) {
                return false;
            }
            Cuda.check(rc, "cudaEventQuery after " + what + " of group " + label);
            return true;
        }
    }
}
