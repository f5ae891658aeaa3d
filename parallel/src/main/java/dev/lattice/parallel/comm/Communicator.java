package dev.lattice.parallel.comm;

/**
 * Collectives and point-to-point transfers among the ranks of one group (NCCL's model). Ranks here are group
 * ranks, 0..size−1. Every member must issue the same operations in the same order; a mismatch or a missing member
 * is reported, with the rank, group and operation named, within the communicator's timeout.
 *
 * <p>Offsets and counts are in elements (fp32, or bf16 for bf16-stored device tensors). The blocking methods
 * return when this rank's part is done — for device buffers on GPUs, when it is ordered before every later operation
 * of the rank's compute stream (as PyTorch's NCCL process group: the host does not wait; a hang is still reported
 * within the timeout); the {@code Async} variants return a {@link Work} handle and keep the issue order.
 */
public interface Communicator extends AutoCloseable {

    /** This rank's index in the group. */
    int rank();

    int size();

    /** The group's name, used in errors (e.g. {@code dp[0,4]}). */
    String name();

    /** {@code buf[off, off+count)} becomes the reduction over ranks (every rank gets the same result). */
    void allReduce(CommBuffer buf, long off, long count, ReduceOp op);

    /**
     * {@code send[sendOff, sendOff + count·size)} reduced over ranks; rank i receives block i (count elements) in
     * {@code recv[recvOff, recvOff + count)}.
     */
    void reduceScatter(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count, ReduceOp op);

    /** Block i of {@code recv} (count elements each) becomes rank i's {@code send[sendOff, sendOff + count)}. */
    void allGather(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count);

    /** Every rank's {@code buf[off, off+count)} becomes the root's. */
    void broadcast(CommBuffer buf, long off, long count, int root);

    /**
     * Starts a group of point-to-point operations that progress together (NCCL's {@code ncclGroupStart}): a
     * pipeline stage's sends and receives of one schedule step. The in-JVM communicator's sends never block, so
     * grouping changes nothing there.
     */
    default void groupStart() {
    }

    /** Ends the group started by {@link #groupStart} (NCCL's {@code ncclGroupEnd}). */
    default void groupEnd() {
    }

    void send(CommBuffer buf, long off, long count, int peer);

    void recv(CommBuffer buf, long off, long count, int peer);

    void barrier();

    /** Asynchronous {@link #allReduce}. */
    Work allReduceAsync(CommBuffer buf, long off, long count, ReduceOp op);

    /**
     * Asynchronous {@link #reduceScatter} (DP gradient buckets reduced while the backward pass goes on). By default
     * the blocking operation, complete on return, which keeps the issue order trivially.
     */
    default Work reduceScatterAsync(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count,
                                    ReduceOp op) {
        reduceScatter(send, sendOff, recv, recvOff, count, op);
        return Work.DONE;
    }

    /**
     * Asynchronous {@link #allGather} (ZeRO-3 gathers the next layer's parameters while this one computes). By
     * default the blocking operation, complete on return.
     */
    default Work allGatherAsync(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count) {
        allGather(send, sendOff, recv, recvOff, count);
        return Work.DONE;
    }

    /** Bytes and calls so far. */
    CommStats stats();

    @Override
    void close();
}
