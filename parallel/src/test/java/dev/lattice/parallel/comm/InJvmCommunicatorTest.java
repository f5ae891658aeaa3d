package dev.lattice.parallel.comm;

import dev.lattice.parallel.topology.Topology;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InJvmCommunicatorTest {

    private static float[] data(int rank, int n) {
        Random r = new Random(rank);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** The reduction a reference computes: rank order, float. */
    private static float[] reference(int ranks, int n, ReduceOp op) {
        float[] acc = data(0, n);
        for (int r = 1; r < ranks; r++) {
            float[] x = data(r, n);
            for (int i = 0; i < n; i++) {
                acc[i] = op == ReduceOp.MAX ? Math.max(acc[i], x[i]) : acc[i] + x[i];
            }
        }
        if (op == ReduceOp.AVG) {
            for (int i = 0; i < n; i++) {
                acc[i] /= ranks;
            }
        }
        return acc;
    }

    @Test
    void allReduceGivesEveryRankTheSameRankOrderedResult() throws Exception {
        InJvmWorld world = new InJvmWorld(4, Duration.ofSeconds(10));
        for (ReduceOp op : ReduceOp.values()) {
            List<float[]> out = Ranks.run(4, rank -> {
                float[] x = data(rank, 33);
                float[] padded = new float[40];
                System.arraycopy(x, 0, padded, 5, 33);
                world.world(rank).allReduce(new HostBuffer(padded), 5, 33, op);
                return java.util.Arrays.copyOfRange(padded, 5, 38);
            });
            for (float[] o : out) {
                assertArrayEquals(reference(4, 33, op), o, op.toString());
            }
        }
    }

    @Test
    void reduceScatterThenAllGatherEqualsAllReduce() throws Exception {
        int n = 3;
        int chunk = 5;
        InJvmWorld world = new InJvmWorld(n, Duration.ofSeconds(10));
        List<float[]> out = Ranks.run(n, rank -> {
            Communicator c = world.world(rank);
            float[] x = data(rank, n * chunk);
            float[] mine = new float[chunk];
            c.reduceScatter(new HostBuffer(x), 0, new HostBuffer(mine), 0, chunk, ReduceOp.SUM);
            float[] full = new float[n * chunk];
            c.allGather(new HostBuffer(mine), 0, new HostBuffer(full), 0, chunk);
            assertEquals((long) 2 * (n - 1) * chunk * 4, c.stats().totalBytes(), "ring bytes");
            return full;
        });
        for (float[] o : out) {
            assertArrayEquals(reference(n, n * chunk, ReduceOp.SUM), o);
        }
    }

    @Test
    void broadcastAndPointToPoint() throws Exception {
        InJvmWorld world = new InJvmWorld(3, Duration.ofSeconds(10));
        List<float[]> out = Ranks.run(3, rank -> {
            Communicator c = world.world(rank);
            float[] b = rank == 2 ? new float[] {7, 8, 9} : new float[3];
            c.broadcast(new HostBuffer(b), 0, 3, 2);
            float[] ring = {rank * 10f};
            float[] got = new float[1];
            c.send(new HostBuffer(ring), 0, 1, (rank + 1) % 3);
            c.recv(new HostBuffer(got), 0, 1, (rank + 2) % 3);
            return new float[] {b[0], b[1], b[2], got[0]};
        });
        for (int r = 0; r < 3; r++) {
            assertArrayEquals(new float[] {7, 8, 9, ((r + 2) % 3) * 10f}, out.get(r));
        }
    }

    @Test
    void subGroupsOfATopologyWorkConcurrently() throws Exception {
        Topology t = new Topology(8, 2, 1, 2); // DP = 2
        InJvmWorld world = new InJvmWorld(8, Duration.ofSeconds(10));
        List<float[]> out = Ranks.run(8, rank -> {
            Communicator tp = world.group(rank, t.groupOf(rank, Topology.Axis.TP), "tp");
            Communicator dp = world.group(rank, t.groupOf(rank, Topology.Axis.DP), "dp");
            float[] x = {rank};
            tp.allReduce(new HostBuffer(x), 0, 1, ReduceOp.SUM);
            float[] y = {rank};
            dp.allReduce(new HostBuffer(y), 0, 1, ReduceOp.SUM);
            return new float[] {x[0], y[0]};
        });
        for (int r = 0; r < 8; r++) {
            float tpSum = 0;
            for (int m : t.groupOf(r, Topology.Axis.TP)) {
                tpSum += m;
            }
            float dpSum = 0;
            for (int m : t.groupOf(r, Topology.Axis.DP)) {
                dpSum += m;
            }
            assertArrayEquals(new float[] {tpSum, dpSum}, out.get(r), "rank " + r);
        }
    }

    @Test
    void aMissingRankTimesOutNamingRankGroupAndOperation() throws Exception {
        InJvmWorld world = new InJvmWorld(3, Duration.ofMillis(300));
        Exception e = assertThrows(CommTimeoutException.class, () -> Ranks.run(3, rank -> {
            if (rank != 1) {
                world.world(rank).allReduce(new HostBuffer(new float[2]), 0, 2, ReduceOp.SUM);
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("in allReduce(SUM) (operation #0) of group world[0,1,2] for rank(s) 1"),
                e.getMessage());
        CommTimeoutException r = assertThrows(CommTimeoutException.class,
                () -> world.world(0).recv(new HostBuffer(new float[1]), 0, 1, 2));
        assertTrue(r.getMessage().contains("recv(count=1) from rank 2"), r.getMessage());
    }

    @Test
    void abortReleasesWaitingRanksAtOnce() throws Exception {
        InJvmWorld world = new InJvmWorld(2, Duration.ofSeconds(60));
        long t0 = System.nanoTime();
        Exception e = assertThrows(CommTimeoutException.class, () -> Ranks.run(2, rank -> {
            if (rank == 0) {
                world.world(0).allReduce(new HostBuffer(new float[1]), 0, 1, ReduceOp.SUM);
            } else {
                Thread.sleep(100);
                world.abort("rank 1 failed: out of memory");
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("aborted (rank 1 failed: out of memory)"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "released well before the 60 s timeout");
    }

    @Test
    void mismatchedCollectivesAreNamed() {
        InJvmWorld world = new InJvmWorld(2, Duration.ofSeconds(2));
        Exception e = assertThrows(Exception.class, () -> Ranks.run(2, rank -> {
            Communicator c = world.world(rank);
            if (rank == 0) {
                c.allReduce(new HostBuffer(new float[4]), 0, 4, ReduceOp.SUM);
            } else {
                c.allGather(new HostBuffer(new float[2]), 0, new HostBuffer(new float[4]), 0, 2);
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("collective mismatch in group world[0,1]"), e.getMessage());
    }

    @Test
    void randomDelaysNeitherDeadlockNorChangeResults() throws Exception {
        InJvmWorld world = new InJvmWorld(4, Duration.ofSeconds(20), 300, 42);
        List<float[]> out = Ranks.run(4, rank -> {
            Communicator c = world.world(rank);
            float[] acc = data(rank, 8);
            for (int step = 0; step < 40; step++) {
                c.allReduce(new HostBuffer(acc), 0, 8, ReduceOp.AVG);
                float[] tok = {step};
                if (rank == 0) {
                    c.send(new HostBuffer(tok), 0, 1, 3);
                } else if (rank == 3) {
                    c.recv(new HostBuffer(tok), 0, 1, 0);
                    assertEquals(step, tok[0]);
                }
                c.barrier();
            }
            return acc;
        });
        for (float[] o : out) {
            assertArrayEquals(out.get(0), o);
        }
    }

    @Test
    void asynchronousAllReduceKeepsIssueOrder() throws Exception {
        InJvmWorld world = new InJvmWorld(2, Duration.ofSeconds(10));
        List<float[]> out = Ranks.run(2, rank -> {
            Communicator c = world.world(rank);
            float[] a = {rank + 1f};
            float[] b = {10f * (rank + 1)};
            Work w = c.allReduceAsync(new HostBuffer(a), 0, 1, ReduceOp.SUM);
            c.allReduce(new HostBuffer(b), 0, 1, ReduceOp.SUM); // must not overtake the pending one
            w.await();
            assertTrue(w.isDone());
            c.close();
            return new float[] {a[0], b[0]};
        });
        for (float[] o : out) {
            assertArrayEquals(new float[] {3f, 30f}, o);
        }
    }

    @Test
    void closingARankStopsItsCommunicationThreads() throws Exception {
        InJvmWorld world = new InJvmWorld(2, Duration.ofSeconds(10));
        Ranks.run(2, rank -> {
            Communicator c = world.group(rank, new int[] {0, 1}, "leakcheck");
            c.allReduceAsync(new HostBuffer(new float[] {1f}), 0, 1, ReduceOp.SUM).await();
            return null;
        });
        assertTrue(commThreads() >= 2, "each rank's async queue has a thread");
        world.closeRank(0);
        world.closeRank(1);
        long deadline = System.currentTimeMillis() + 5_000;
        while (commThreads() > 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, commThreads(), "threads left after closeRank");
    }

    private static long commThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("comm-leakcheck")).count();
    }
}
