package dev.lattice.trainer.model;

import dev.lattice.parallel.comm.CommStats;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Sequence parallelism's sum of the replicated gradients: each tensor ends as the sum over the TP group of the
 * ranks' tensors (computed here by hand), in one all-reduce however many tensors there are.
 */
class ReplicatedGradientSumTest {

    private static final int[] SIZES = {5, 1, 12, 3};

    @Test
    void sumsEveryTensorOverTheGroupInOneAllReduce() throws Exception {
        InJvmWorld world = new InJvmWorld(2, Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<float[][]>> ranks = List.of(pool.submit(() -> rank(world, 0)),
                    pool.submit(() -> rank(world, 1)));
            float[][] r0 = ranks.get(0).get();
            float[][] r1 = ranks.get(1).get();
            for (int t = 0; t < SIZES.length; t++) {
                float[] want = new float[SIZES[t]];
                for (int i = 0; i < want.length; i++) {
                    want[i] = value(0, t, i) + value(1, t, i);
                }
                assertArrayEquals(want, r0[t], 0f, "rank 0, tensor " + t);
                assertArrayEquals(want, r1[t], 0f, "rank 1, tensor " + t);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static float value(int rank, int tensor, int i) {
        return (rank + 1) * 0.5f + tensor * 10 + i * 0.25f;
    }

    private static float[][] rank(InJvmWorld world, int rank) {
        CpuBackend be = new CpuBackend();
        Communicator tp = world.group(rank, new int[] {0, 1}, "tp");
        List<Map.Entry<String, Tensor>> grads = new java.util.ArrayList<>();
        for (int t = 0; t < SIZES.length; t++) {
            float[] v = new float[SIZES[t]];
            for (int i = 0; i < v.length; i++) {
                v[i] = value(rank, t, i);
            }
            grads.add(Map.entry("p" + t, be.fromHost(v, v.length)));
        }
        ReplicatedGradientSum sum = ReplicatedGradientSum.of(be, grads);
        assertEquals(List.of("p0", "p1", "p2", "p3"), sum.names());
        sum.sum(TensorParallel.of(tp));
        assertEquals(1, tp.stats().calls(CommStats.Op.ALL_REDUCE), "one all-reduce for " + SIZES.length + " tensors");
        float[][] out = new float[SIZES.length][];
        for (int t = 0; t < SIZES.length; t++) {
            out[t] = be.toHost(grads.get(t).getValue());
        }
        return out;
    }
}
