package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.Collectives;
import dev.lattice.parallel.comm.CommBuffer;
import dev.lattice.parallel.comm.CommStats;
import dev.lattice.parallel.comm.CommTimeoutException;
import dev.lattice.parallel.comm.CommWorld;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.HostBuffer;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.comm.Work;
import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreate;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The NCCL communicator on two GPUs (ranks as threads, one GPU each), checked against the in-JVM communicator
 * running the same script on host arrays. Skipped without two CUDA devices.
 */
class NcclCommunicatorTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** Buffers a script works on: device memory for NCCL, host arrays for the reference. */
    interface Floats {
        CommBuffer of(float[] values);

        CommBuffer zeros(int n);

        float[] read(CommBuffer b);
    }

    /** What every rank runs; returns the values to compare. */
    interface Script {
        float[] run(int rank, CommWorld world, Floats f) throws Exception;
    }

    @BeforeEach
    void needsTwoGpus() {
        assumeTrue(Cuda.available(), Cuda.unavailableReason());
        assumeTrue(Cuda.deviceCount() >= 2, "needs 2 CUDA devices, found " + Cuda.deviceCount());
    }

    // ---- the scripts ----

    @Test
    void allReduceSumMaxAndAvgMatchTheReference() throws Exception {
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.world(rank);
            float[] x = data(rank, 1000);
            CommBuffer sum = f.of(x);
            c.allReduce(sum, 7, 900, ReduceOp.SUM);
            CommBuffer max = f.of(x);
            c.allReduce(max, 0, 1000, ReduceOp.MAX);
            CommBuffer avg = f.of(x);
            c.allReduce(avg, 3, 10, ReduceOp.AVG);
            return concat(f.read(sum), f.read(max), f.read(avg));
        });
    }

    @Test
    void reduceScatterAndAllGatherWithOffsets() throws Exception {
        int chunk = 129;
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.group(rank, new int[] {0, 1}, "dp");
            CommBuffer send = f.of(data(rank, 5 + 2 * chunk));
            CommBuffer mine = f.zeros(chunk + 3);
            c.reduceScatter(send, 5, mine, 3, chunk, ReduceOp.SUM);
            CommBuffer full = f.zeros(2 * chunk + 11);
            c.allGather(mine, 3, full, 11, chunk);
            return concat(f.read(send), f.read(mine), f.read(full));
        });
    }

    /**
     * A non-blocking group whose collectives run on the rank's compute stream (-Dlattice.nccl.computeStreamGroups):
     * the same results as the in-JVM reference, blocking and asynchronous, with no stream of its own to order against.
     */
    @Test
    void aGroupOnTheComputeStreamGivesTheSameResults() throws Exception {
        int chunk = 100;
        assertSameAsInJvm((rank, world, f) -> {
            // "tp-own": on the compute stream but not blocking (tp's default), so both kinds stay covered
            Communicator c = world instanceof NcclWorld n ? n.group(rank, new int[] {0, 1}, "tp-own", true)
                    : world.group(rank, new int[] {0, 1}, "tp-own");
            if (c instanceof NcclCommunicator nc) {
                assertTrue(nc.onComputeStream() && !nc.blocking());
            }
            CommBuffer x = f.of(data(rank, 2 * chunk));
            c.allReduce(x, 0, 2 * chunk, ReduceOp.SUM);
            CommBuffer mine = f.zeros(chunk);
            c.reduceScatter(x, 0, mine, 0, chunk, ReduceOp.SUM);
            CommBuffer full = f.zeros(2 * chunk);
            c.allGatherAsync(mine, 0, full, 0, chunk).await();
            return concat(f.read(x), f.read(mine), f.read(full));
        });
    }

    /**
     * Blocking communicators (-Dlattice.nccl.blockingGroups, read when the world is made) for a compute-stream group
     * and a group on its own stream: the same results as the in-JVM reference, and the communicators are blocking.
     */
    @Test
    void blockingCommunicatorsGiveTheSameResults() throws Exception {
        int chunk = 100;
        System.setProperty("lattice.nccl.blockingGroups", "tp,dp");
        try {
            assertSameAsInJvm((rank, world, f) -> {
                Communicator tp = world instanceof NcclWorld n ? n.group(rank, new int[] {0, 1}, "tp", true)
                        : world.group(rank, new int[] {0, 1}, "tp");
                Communicator dp = world.group(rank, new int[] {0, 1}, "dp");
                if (world instanceof NcclWorld) {
                    assertTrue(((NcclCommunicator) tp).blocking() && ((NcclCommunicator) dp).blocking());
                }
                CommBuffer x = f.of(data(rank, 2 * chunk));
                tp.allReduce(x, 0, 2 * chunk, ReduceOp.SUM);
                CommBuffer mine = f.zeros(chunk);
                Work scattered = dp.reduceScatterAsync(x, 0, mine, 0, chunk, ReduceOp.SUM);
                scattered.await();
                CommBuffer full = f.zeros(2 * chunk);
                dp.allGatherAsync(mine, 0, full, 0, chunk).await();
                tp.allGatherAsync(mine, 0, full, 0, chunk).await();
                return concat(f.read(x), f.read(mine), f.read(full));
            });
        } finally {
            System.clearProperty("lattice.nccl.blockingGroups");
        }
    }

    /** ZeRO's calls: in place with NCCL's offsets (DataParallelSync), and an overlapping non-in-place gather. */
    @Test
    void inPlaceAndOverlappingRanges() throws Exception {
        int len = 64;
        int bucket = 8;
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.world(rank);
            CommBuffer flat = f.of(data(rank, bucket + 2 * len));
            c.allGather(flat, bucket + (long) rank * len, flat, bucket, len);
            CommBuffer grads = f.of(data(rank + 10, 2 * len));
            c.reduceScatter(grads, 0, grads, (long) rank * len, len, ReduceOp.SUM);
            CommBuffer overlapping = f.of(data(rank + 20, 2 * len + 1));
            c.allGather(overlapping, 1, overlapping, 0, len);
            return concat(f.read(flat), f.read(grads), f.read(overlapping));
        });
    }

    @Test
    void broadcastFromRankOne() throws Exception {
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.world(rank);
            CommBuffer b = f.of(rank == 1 ? data(1, 50) : new float[50]);
            c.broadcast(b, 5, 40, 1);
            return f.read(b);
        });
    }

    @Test
    void sendAndRecvBothWaysInOneGroupThenUngrouped() throws Exception {
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.world(rank);
            int peer = 1 - rank;
            CommBuffer out = f.of(data(rank, 300));
            CommBuffer in = f.zeros(310);
            c.groupStart();
            c.send(out, 0, 300, peer);
            c.recv(in, 10, 300, peer);
            c.groupEnd();
            CommBuffer token = f.of(new float[] {7 + rank, 8, 9});
            if (rank == 0) {
                c.send(token, 0, 3, 1);
            } else {
                c.recv(token, 0, 3, 0);
            }
            return concat(f.read(in), f.read(token));
        });
    }

    @Test
    void barrierAsynchronousAllReduceAndHostBuffers() throws Exception {
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.world(rank);
            c.barrier();
            CommBuffer a = f.of(data(rank, 256));
            CommBuffer b = f.of(data(rank + 5, 256));
            Work first = c.allReduceAsync(a, 0, 256, ReduceOp.SUM);
            Work second = c.allReduceAsync(b, 0, 128, ReduceOp.MAX);
            second.await();
            first.await();
            assertTrue(first.isDone() && second.isDone());
            double total = Collectives.sum(c, rank + 0.25); // a host-buffer allGather
            float[] host = data(rank, 10);
            c.allReduce(new HostBuffer(host), 2, 6, ReduceOp.SUM);
            float[] hostAsync = data(rank + 3, 4);
            c.allReduceAsync(new HostBuffer(hostAsync), 0, 4, ReduceOp.MAX).await();
            float[] gathered = new float[8];
            c.allGather(new HostBuffer(new float[] {rank, rank + 1, rank + 2, rank + 3}), 0,
                    new HostBuffer(gathered), 0, 4);
            c.barrier();
            return concat(f.read(a), f.read(b), new float[] {(float) total}, host, hostAsync, gathered);
        });
    }

    /**
     * ZeRO's pattern with launches NCCL is still making (lazy launch): reduce-scatters of four buckets queued back to
     * back, awaited out of order (one polled with isDone first), then the all-gathers back, the last one awaited
     * with no other call after it: each Work finishes its own launch or the next call does, and every result is the
     * in-JVM reference's.
     */
    @Test
    void asynchronousCollectivesInARowSettleTheirLaunches() throws Exception {
        int n = 64;
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.world(rank);
            CommBuffer grads = f.of(data(rank + 1, 4 * 2 * n));
            CommBuffer shard = f.zeros(4 * n);
            Work[] reduced = new Work[4];
            for (int b = 0; b < 4; b++) {
                reduced[b] = c.reduceScatterAsync(grads, b * 2 * n, shard, b * n, n, ReduceOp.SUM);
            }
            reduced[1].isDone();
            for (int b : new int[] {3, 1, 0, 2}) {
                reduced[b].await();
            }
            CommBuffer params = f.zeros(4 * 2 * n);
            Work[] gathered = new Work[4];
            for (int b = 0; b < 4; b++) {
                gathered[b] = c.allGatherAsync(shard, b * n, params, b * 2 * n, n);
            }
            for (int b = 3; b >= 0; b--) {
                gathered[b].await();
            }
            return concat(f.read(shard), f.read(params));
        });
    }

    /**
     * bf16-stored buffers (activations under --bf16 with TP/PP, gradients under --grad-reduce-in-bf16): NCCL moves
     * them as ncclBfloat16. With two ranks each sum is one addition, rounded once: bf16(bf16(a) + bf16(b)).
     */
    @Test
    void bf16BuffersReduceGatherAndTravelAsBf16() throws Exception {
        int n = 300;
        List<float[]> out = onGpus((rank, world, f) -> {
            Communicator c = world.world(rank);
            try (DeviceFloats sum = DeviceFloats.bf16(rank, data(rank, n));
                 DeviceFloats scatter = DeviceFloats.bf16(rank, data(rank + 10, 2 * n));
                 DeviceFloats mine = DeviceFloats.bf16(rank, new float[n]);
                 DeviceFloats asyncMine = DeviceFloats.bf16(rank, new float[n]);
                 DeviceFloats gathered = DeviceFloats.bf16(rank, new float[2 * n]);
                 DeviceFloats moved = DeviceFloats.bf16(rank, rank == 0 ? data(30, n) : new float[n]);
                 DeviceFloats fp32 = DeviceFloats.zeros(rank, n)) {
                c.allReduce(sum, 0, n, ReduceOp.SUM);
                c.reduceScatter(scatter, 0, mine, 0, n, ReduceOp.SUM);
                Work w = c.reduceScatterAsync(scatter, 0, asyncMine, 0, n, ReduceOp.SUM);
                c.allGather(mine, 0, gathered, 0, n);
                w.await();
                if (rank == 0) {
                    c.send(moved, 0, n, 1);
                } else {
                    c.recv(moved, 0, n, 0);
                }
                IllegalArgumentException mixed = assertThrows(IllegalArgumentException.class,
                        () -> c.reduceScatter(scatter, 0, fp32, 0, n, ReduceOp.SUM));
                assertTrue(mixed.getMessage().contains("bf16 device and fp32 device"), mixed.getMessage());
                return concat(sum.download(), mine.download(), asyncMine.download(), gathered.download(),
                        moved.download());
            }
        });
        float[] sum = new float[n];
        float[] scattered = new float[2 * n];
        for (int i = 0; i < n; i++) {
            sum[i] = DeviceFloats.roundBf16(DeviceFloats.roundBf16(data(0, n)[i])
                    + DeviceFloats.roundBf16(data(1, n)[i]));
        }
        for (int i = 0; i < 2 * n; i++) {
            scattered[i] = DeviceFloats.roundBf16(DeviceFloats.roundBf16(data(10, 2 * n)[i])
                    + DeviceFloats.roundBf16(data(11, 2 * n)[i]));
        }
        float[] sent = data(30, n);
        for (int r = 0; r < 2; r++) {
            float[] got = out.get(r);
            for (int i = 0; i < n; i++) {
                assertBf16(sum[i], got[i], "rank " + r + " allReduce " + i);
                assertBf16(scattered[r * n + i], got[n + i], "rank " + r + " reduceScatter " + i);
                assertBf16(scattered[r * n + i], got[2 * n + i], "rank " + r + " reduceScatterAsync " + i);
                assertBf16(scattered[i], got[3 * n + i], "rank " + r + " allGather " + i);
                assertBf16(scattered[n + i], got[4 * n + i], "rank " + r + " allGather " + (n + i));
                assertEquals(DeviceFloats.roundBf16(sent[i]), got[5 * n + i], 0f, "rank " + r + " send/recv " + i);
            }
        }
    }

    /**
     * Tracing (GPU timelines): every collective enqueued between startTrace and stopTrace comes back once, in order,
     * with a pair of completed events whose interval is not negative; nothing is traced after stopTrace.
     */
    @Test
    void tracedCollectivesComeBackInOrderWithTheirEvents() throws Exception {
        int n = 256;
        List<float[]> out = onGpus((rank, world, f) -> {
            NcclCommunicator c = (NcclCommunicator) world.group(rank, new int[] {0, 1}, "dp");
            CommBuffer x = f.of(data(rank, 2 * n));
            CommBuffer mine = f.zeros(n);
            c.startTrace();
            c.reduceScatterAsync(x, 0, mine, 0, n, ReduceOp.SUM).await();
            c.allGatherAsync(mine, 0, x, 0, n).await();
            List<NcclCommunicator.Traced> traced = c.stopTrace();
            c.allReduce(x, 0, n, ReduceOp.SUM);
            assertEquals(List.of(), c.stopTrace(), "nothing traced after stopTrace");
            assertEquals(2, traced.size(), traced.toString());
            assertTrue(traced.get(0).what().startsWith("reduceScatter"), traced.get(0).what());
            assertTrue(traced.get(1).what().startsWith("allGather"), traced.get(1).what());
            float[] ms = new float[traced.size()];
            for (int i = 0; i < traced.size(); i++) {
                NcclCommunicator.Traced t = traced.get(i);
                float[] e = new float[1];
                assertEquals(0, org.bytedeco.cuda.global.cudart.cudaEventSynchronize(t.after()));
                assertEquals(0, org.bytedeco.cuda.global.cudart.cudaEventElapsedTime(e, t.before(), t.after()));
                assertTrue(e[0] >= 0, t.what() + " took " + e[0] + " ms");
                ms[i] = e[0];
                org.bytedeco.cuda.global.cudart.cudaEventDestroy(t.before());
                org.bytedeco.cuda.global.cudart.cudaEventDestroy(t.after());
            }
            return ms;
        });
        assertEquals(2, out.size());
    }

    /** Equal within one bf16 rounding (NCCL may round its sum either way at a tie). */
    private static void assertBf16(float expected, float actual, String what) {
        assertEquals(expected, actual, Math.abs(expected) * 0x1p-8f + 1e-30f, what);
    }

    @Test
    void statsAndBytesPerGroupCountLikeTheInJvmCommunicator() throws Exception {
        assertSameAsInJvm((rank, world, f) -> {
            Communicator c = world.group(rank, new int[] {0, 1}, "dp");
            CommBuffer x = f.of(data(rank, 100));
            CommBuffer half = f.zeros(50);
            c.allReduce(x, 0, 100, ReduceOp.SUM);
            c.reduceScatter(x, 0, half, 0, 50, ReduceOp.SUM);
            c.allGather(half, 0, x, 0, 50);
            c.broadcast(x, 0, 10, 0);
            c.groupStart();
            c.send(x, 0, 5, 1 - rank);
            c.recv(half, 0, 5, 1 - rank);
            c.groupEnd();
            c.allReduceAsync(x, 0, 100, ReduceOp.MAX).await();
            c.barrier(); // after it, both ranks have counted everything before it
            List<Float> counts = new ArrayList<>();
            for (CommStats.Op op : CommStats.Op.values()) {
                counts.add((float) c.stats().calls(op));
                counts.add((float) c.stats().bytes(op));
            }
            counts.add((float) (long) world.bytesByGroupName().get("dp"));
            float[] out = new float[counts.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = counts.get(i);
            }
            return out;
        });
    }

    // ---- NCCL only ----

    @Test
    void communicatorsAreCreatedOncePerRankAndGroup() throws Exception {
        NcclWorld world = new NcclWorld(2, TIMEOUT, new LocalNcclGroupIds());
        dev.lattice.parallel.comm.Ranks.run(2, rank -> onGpu(world, rank, () -> {
            assertSame(world.world(rank), world.world(rank));
            NcclCommunicator dp = world.group(rank, new int[] {0, 1}, "dp");
            assertEquals("dp[0,1]", dp.name());
            assertEquals(rank, dp.rank());
            assertEquals(2, dp.size());
            return null;
        }));
    }

    @Test
    void aMissingRankTimesOutNamingRankGroupAndOperation() throws Exception {
        NcclWorld world = new NcclWorld(2, Duration.ofSeconds(3), new LocalNcclGroupIds());
        Object[] r = rankZeroAloneInAnAllReduce(world, false);
        String m = ((CommTimeoutException) r[0]).getMessage();
        double seconds = (double) r[1];
        assertTrue(m.contains("rank 0") && m.contains("world[0,1]") && m.contains("allReduce"), m);
        assertTrue(m.contains("aborted"), m);
        assertTrue(seconds >= 2.9 && seconds < 10, "gave up after " + seconds + " s");
    }

    /**
     * Both ranks join the world communicator; rank 1 then never takes part, rank 0 all-reduces, reads the result and
     * makes a barrier: rank 0's failure and its seconds (rank 1 waits until rank 0 gave up). {@code blocking}: what
     * the world's communicator is expected to be.
     */
    private static Object[] rankZeroAloneInAnAllReduce(NcclWorld world, boolean blocking) throws Exception {
        CountDownLatch rankZeroDone = new CountDownLatch(1);
        List<Object> out = dev.lattice.parallel.comm.Ranks.run(2, rank -> onGpu(world, rank, () -> {
            Communicator c = world.world(rank); // both create it (collective)
            assertEquals(blocking, ((NcclCommunicator) c).blocking());
            if (rank == 1) {
                assertTrue(rankZeroDone.await(80, TimeUnit.SECONDS), "rank 0 never gave up");
                return null;
            }
            try (DeviceFloats x = DeviceFloats.zeros(0, 1024)) {
                long t0 = System.nanoTime();
                try {
                    // On device buffers the host does not wait (deferred completion): reading the result waits on
                    // the stream until the watchdog aborts the hung all-reduce; the next operation then says why.
                    // A blocking communicator may instead be held inside NCCL's connection set-up, which the
                    // watchdog releases the same way.
                    c.allReduce(x, 0, 1024, ReduceOp.SUM);
                    x.download();
                    c.barrier();
                    fail("allReduce without rank 1 completed");
                    return null;
                } catch (CommTimeoutException e) {
                    return new Object[] {e, (System.nanoTime() - t0) / 1e9};
                } finally {
                    rankZeroDone.countDown();
                }
            }
        }));
        return (Object[]) out.get(0);
    }

    @Test
    void abortReleasesAWaitingRankPromptlyAndFailsLaterOperations() throws Exception {
        NcclWorld world = new NcclWorld(2, TIMEOUT, new LocalNcclGroupIds());
        List<Object> out = dev.lattice.parallel.comm.Ranks.run(2, rank -> onGpu(world, rank, () -> {
            Communicator c = world.world(rank);
            if (rank == 1) {
                Thread.sleep(500);
                world.abort("rank 1 failed: out of memory");
                CommTimeoutException later = assertThrows(CommTimeoutException.class, c::barrier);
                return later.getMessage();
            }
            try (DeviceFloats x = DeviceFloats.zeros(0, 16)) {
                long t0 = System.nanoTime();
                CommTimeoutException e = assertThrows(CommTimeoutException.class, () -> {
                    c.allReduce(x, 0, 16, ReduceOp.SUM); // deferred: the barrier waits for it
                    c.barrier();
                });
                return new Object[] {e.getMessage(), (System.nanoTime() - t0) / 1e9};
            }
        }));
        Object[] r = (Object[]) out.get(0);
        String m = (String) r[0];
        assertTrue(m.contains("rank 1 failed: out of memory") && m.contains("allReduce"), m);
        assertTrue((double) r[1] < 10, "released after " + r[1] + " s, not at the 60 s timeout");
        String later = (String) out.get(1);
        assertTrue(later.contains("rank 1 failed: out of memory") && later.contains("barrier"), later);
    }

    /**
     * A blocking communicator connects to a peer inside its first collective; a peer that never comes holds the
     * rank's thread inside NCCL, and the watchdog releases it at the timeout by aborting the communicator.
     */
    @Test
    void aBlockingCallHeldInsideNcclIsReleasedAtTheTimeout() throws Exception {
        System.setProperty("lattice.nccl.blockingGroups", "world");
        NcclWorld world;
        try {
            world = new NcclWorld(2, Duration.ofSeconds(3), new LocalNcclGroupIds());
        } finally {
            System.clearProperty("lattice.nccl.blockingGroups");
        }
        Object[] r = assertTimeoutPreemptively(Duration.ofSeconds(90), () -> rankZeroAloneInAnAllReduce(world, true));
        String m = ((CommTimeoutException) r[0]).getMessage();
        assertTrue(m.contains("rank 0") && m.contains("world[0,1]") && m.contains("aborted"), m);
        assertTrue((double) r[1] >= 2.9 && (double) r[1] < 30, "gave up after " + r[1] + " s");
    }

    /**
     * A blocking communicator's start-up waits inside NCCL on a helper thread; a world abort while a member never
     * comes releases the rank waiting for it promptly (not at the 2-minute start-up limit), naming the group and the
     * reason.
     */
    @Test
    void anAbortReleasesABlockingStartUpWhoseMemberNeverCame() throws Exception {
        System.setProperty("lattice.nccl.blockingGroups", "dp");
        NcclWorld world;
        try {
            world = new NcclWorld(2, TIMEOUT, new LocalNcclGroupIds());
        } finally {
            System.clearProperty("lattice.nccl.blockingGroups");
        }
        List<Object> out = dev.lattice.parallel.comm.Ranks.run(2, rank -> onGpu(world, rank, () -> {
            if (rank == 1) { // never asks for dp[0,1]
                Thread.sleep(1000);
                world.abort("rank 1 failed: lost its executor");
                return null;
            }
            long t0 = System.nanoTime();
            CommTimeoutException e = assertThrows(CommTimeoutException.class,
                    () -> world.group(0, new int[] {0, 1}, "dp"));
            return new Object[] {e.getMessage(), (System.nanoTime() - t0) / 1e9};
        }));
        Object[] r = (Object[]) out.get(0);
        String m = (String) r[0];
        assertTrue(m.contains("dp[0,1]") && m.contains("blocking communicator")
                && m.contains("rank 1 failed: lost its executor"), m);
        assertTrue((double) r[1] < 10, "released after " + r[1] + " s");
    }

    // ---- running a script ----

    private static void assertSameAsInJvm(Script script) throws Exception {
        List<float[]> expected = inJvm(script);
        List<float[]> actual = onGpus(script);
        for (int r = 0; r < 2; r++) {
            float[] e = expected.get(r);
            float[] a = actual.get(r);
            assertEquals(e.length, a.length, "rank " + r + " result length");
            for (int i = 0; i < e.length; i++) {
                assertEquals(e[i], a[i], 1e-6f * Math.max(1f, Math.abs(e[i])), "rank " + r + " element " + i);
            }
        }
    }

    private static List<float[]> inJvm(Script script) throws Exception {
        InJvmWorld world = new InJvmWorld(2, TIMEOUT);
        return dev.lattice.parallel.comm.Ranks.run(2, rank -> {
            try {
                return script.run(rank, world, HOST);
            } finally {
                world.closeRank(rank);
            }
        });
    }

    private static List<float[]> onGpus(Script script) throws Exception {
        NcclWorld world = new NcclWorld(2, TIMEOUT, new LocalNcclGroupIds());
        return dev.lattice.parallel.comm.Ranks.run(2, rank -> onGpu(world, rank, () -> {
            try (OnDevice f = new OnDevice(rank)) {
                return script.run(rank, world, f);
            }
        }));
    }

    /** Rank {@code rank} on GPU {@code rank} with its own compute stream; closes its communicators at the end. */
    private static <T> T onGpu(NcclWorld world, int rank, Callable<T> body) throws Exception {
        Cuda.check(cudaSetDevice(rank), "cudaSetDevice");
        CUstream_st compute = new CUstream_st();
        Cuda.check(cudaStreamCreate(compute), "cudaStreamCreate");
        world.bindRank(rank, rank, compute);
        try {
            return body.call();
        } finally {
            try {
                world.closeRank(rank);
            } finally {
                cudaStreamSynchronize(compute);
                cudaStreamDestroy(compute);
            }
        }
    }

    private static final Floats HOST = new Floats() {
        @Override
        public CommBuffer of(float[] values) {
            return new HostBuffer(values.clone());
        }

        @Override
        public CommBuffer zeros(int n) {
            return new HostBuffer(new float[n]);
        }

        @Override
        public float[] read(CommBuffer b) {
            return ((HostBuffer) b).array().clone();
        }
    };

    /** Device buffers of one rank, freed together. */
    private static final class OnDevice implements Floats, AutoCloseable {
        private final int device;
        private final List<DeviceFloats> made = new ArrayList<>();

        OnDevice(int device) {
            this.device = device;
        }

        @Override
        public CommBuffer of(float[] values) {
            DeviceFloats d = DeviceFloats.of(device, values);
            made.add(d);
            return d;
        }

        @Override
        public CommBuffer zeros(int n) {
            DeviceFloats d = DeviceFloats.zeros(device, n);
            made.add(d);
            return d;
        }

        @Override
        public float[] read(CommBuffer b) {
            return ((DeviceFloats) b).download();
        }

        @Override
        public void close() {
            for (DeviceFloats d : made) {
                d.close();
            }
        }
    }

    private static float[] data(int seed, int n) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
