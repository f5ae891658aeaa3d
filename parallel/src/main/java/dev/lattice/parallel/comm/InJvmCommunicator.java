package dev.lattice.parallel.comm;

import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@link Communicator} between threads of one JVM. Reductions add the members' contributions in group-rank order,
 * so every member gets bit-identical results, independent of timing. Asynchronous calls run on this rank's own
 * single-thread queue, which keeps the issue order across blocking and asynchronous calls.
 */
final class InJvmCommunicator implements Communicator {

    private final InJvmWorld world;
    private final GroupState group;
    private final int rank;
    private final int worldRank;
    private final CommStats stats = new CommStats();
    private final Random delays;
    private long seq;
    private ExecutorService queue;

    InJvmCommunicator(InJvmWorld world, GroupState group, int rank, int worldRank) {
        this.world = world;
        this.group = group;
        this.rank = rank;
        this.worldRank = worldRank;
        this.delays = world.maxDelayMicros() > 0 ? new Random(world.delaySeed() * 7919 + worldRank) : null;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return group.members.length;
    }

    @Override
    public String name() {
        return group.label;
    }

    @Override
    public CommStats stats() {
        return stats;
    }

    private static float[] host(CommBuffer b) {
        if (b instanceof HostCommBuffer h) {
            return h.array();
        }
        throw new IllegalArgumentException("the in-JVM communicator needs host buffers, got " + b.getClass().getName());
    }

    private void delay() {
        if (delays != null) {
            long micros = delays.nextInt(world.maxDelayMicros() + 1);
            try {
                TimeUnit.MICROSECONDS.sleep(micros);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Deposits a contribution and returns everyone's; the caller must call {@link #finish} after reading. */
    private float[][] exchange(String op, long count, float[] contribution) {
        delay();
        long s = seq++;
        GroupState.Phase phase = group.phase(s);
        phase.deposit(rank, op, count, contribution, group.label, s);
        float[][] all = phase.awaitAll(world.timeout().toNanos(), rank, worldRank, group.members, group.label, op, s,
                () -> world.checkAborted(worldRank, op + " of group " + group.label));
        return all;
    }

    private void finish(long s) {
        if (group.phase(s).leave()) {
            group.done(s);
        }
    }

    private static float[] slice(float[] a, long off, long count) {
        return Arrays.copyOfRange(a, Math.toIntExact(off), Math.toIntExact(off + count));
    }

    private static float reduce(float acc, float v, ReduceOp op) {
        return op == ReduceOp.MAX ? Math.max(acc, v) : acc + v;
    }

    @Override
    public void allReduce(CommBuffer buf, long off, long count, ReduceOp op) {
        ordered(() -> doAllReduce(buf, off, count, op));
    }

    private void doAllReduce(CommBuffer buf, long off, long count, ReduceOp op) {
        float[] a = host(buf);
        long s = seq;
        float[][] all = exchange("allReduce(" + op + ")", count, slice(a, off, count));
        int n = size();
        int o = Math.toIntExact(off);
        for (int i = 0; i < count; i++) {
            float acc = all[0][i];
            for (int r = 1; r < n; r++) {
                acc = reduce(acc, all[r][i], op);
            }
            a[o + i] = op == ReduceOp.AVG ? acc / n : acc;
        }
        finish(s);
        stats.add(CommStats.Op.ALL_REDUCE, n == 1 ? 0 : 2L * (n - 1) * count * 4 / n);
    }

    @Override
    public void reduceScatter(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count,
                              ReduceOp op) {
        ordered(() -> doReduceScatter(send, sendOff, recv, recvOff, count, op));
    }

    private void doReduceScatter(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count,
                              ReduceOp op) {
        int n = size();
        long s = seq;
        float[][] all = exchange("reduceScatter(" + op + ")", count, slice(host(send), sendOff, count * n));
        float[] out = host(recv);
        int o = Math.toIntExact(recvOff);
        int base = Math.toIntExact((long) rank * count);
        for (int i = 0; i < count; i++) {
            float acc = all[0][base + i];
            for (int r = 1; r < n; r++) {
                acc = reduce(acc, all[r][base + i], op);
            }
            out[o + i] = op == ReduceOp.AVG ? acc / n : acc;
        }
        finish(s);
        stats.add(CommStats.Op.REDUCE_SCATTER, (long) (n - 1) * count * 4);
    }

    @Override
    public void allGather(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count) {
        ordered(() -> doAllGather(send, sendOff, recv, recvOff, count));
    }

    private void doAllGather(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count) {
        int n = size();
        long s = seq;
        float[][] all = exchange("allGather", count, slice(host(send), sendOff, count));
        float[] out = host(recv);
        for (int r = 0; r < n; r++) {
            System.arraycopy(all[r], 0, out, Math.toIntExact(recvOff + r * count), Math.toIntExact(count));
        }
        finish(s);
        stats.add(CommStats.Op.ALL_GATHER, (long) (n - 1) * count * 4);
    }

    @Override
    public void broadcast(CommBuffer buf, long off, long count, int root) {
        ordered(() -> doBroadcast(buf, off, count, root));
    }

    private void doBroadcast(CommBuffer buf, long off, long count, int root) {
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("broadcast root " + root + " outside group " + group.label);
        }
        float[] a = host(buf);
        long s = seq;
        float[][] all = exchange("broadcast(root=" + root + ")", count, rank == root ? slice(a, off, count) : null);
        if (rank != root) {
            System.arraycopy(all[root], 0, a, Math.toIntExact(off), Math.toIntExact(count));
        }
        finish(s);
        stats.add(CommStats.Op.BROADCAST, size() == 1 ? 0 : count * 4);
    }

    @Override
    public void barrier() {
        ordered(() -> doBarrier());
    }

    private void doBarrier() {
        long s = seq;
        exchange("barrier", 0, null);
        finish(s);
        stats.add(CommStats.Op.BARRIER, 0);
    }

    @Override
    public void send(CommBuffer buf, long off, long count, int peer) {
        ordered(() -> doSend(buf, off, count, peer));
    }

    private void doSend(CommBuffer buf, long off, long count, int peer) {
        checkPeer(peer);
        delay();
        world.channel(worldRank, group.members[peer], group.label).add(slice(host(buf), off, count));
        stats.add(CommStats.Op.SEND, count * 4);
    }

    @Override
    public void recv(CommBuffer buf, long off, long count, int peer) {
        ordered(() -> doRecv(buf, off, count, peer));
    }

    private void doRecv(CommBuffer buf, long off, long count, int peer) {
        checkPeer(peer);
        delay();
        float[] msg = null;
        try {
            long deadline = System.nanoTime() + world.timeout().toNanos();
            while (msg == null && System.nanoTime() < deadline) {
                world.checkAborted(worldRank, "recv from rank " + group.members[peer] + " of group " + group.label);
                msg = world.channel(group.members[peer], worldRank, group.label).poll(Math.min(
                        deadline - System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(200)), TimeUnit.NANOSECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommTimeoutException("rank " + worldRank + " interrupted in recv from rank "
                    + group.members[peer] + " of group " + group.label);
        }
        if (msg == null) {
            throw new CommTimeoutException("rank " + worldRank + " waited " + world.timeout().toMillis()
                    + " ms in recv(count=" + count + ") from rank " + group.members[peer] + " of group " + group.label
                    + ", which never sent");
        }
        if (msg.length != count) {
            throw new IllegalStateException("rank " + worldRank + " expected " + count + " elements from rank "
                    + group.members[peer] + " of group " + group.label + " but received " + msg.length);
        }
        System.arraycopy(msg, 0, host(buf), Math.toIntExact(off), msg.length);
        stats.add(CommStats.Op.RECV, 0);
    }

    private void checkPeer(int peer) {
        if (peer < 0 || peer >= size() || peer == rank) {
            throw new IllegalArgumentException("peer " + peer + " is not another member of group " + group.label);
        }
    }

    /**
     * Runs an operation in issue order: inline until the first asynchronous call, after that through this rank's
     * queue (so a blocking call never overtakes a pending asynchronous one).
     */
    private void ordered(Runnable op) {
        ExecutorService q;
        synchronized (this) {
            q = queue;
        }
        if (q == null) {
            op.run();
            return;
        }
        try {
            q.submit(op).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommTimeoutException("rank " + worldRank + " interrupted in group " + group.label);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    @Override
    public synchronized Work allReduceAsync(CommBuffer buf, long off, long count, ReduceOp op) {
        if (queue == null) {
            queue = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "comm-" + group.label + "-rank" + worldRank);
                t.setDaemon(true);
                return t;
            });
        }
        Future<?> f = queue.submit(() -> doAllReduce(buf, off, count, op));
        long timeoutNanos = world.timeout().toNanos() * 2;
        return new Work() {
            @Override
            public void await() {
                try {
                    f.get(timeoutNanos, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CommTimeoutException("interrupted waiting for allReduce of group " + group.label);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) {
                        throw re;
                    }
                    throw new IllegalStateException(e.getCause());
                } catch (TimeoutException e) {
                    throw new CommTimeoutException("rank " + worldRank + " timed out waiting for allReduce of group "
                            + group.label);
                }
            }

            @Override
            public boolean isDone() {
                return f.isDone();
            }
        };
    }

    int worldRank() {
        return worldRank;
    }

    @Override
    public synchronized void close() {
        if (queue != null) {
            queue.shutdownNow();
        }
    }
}
