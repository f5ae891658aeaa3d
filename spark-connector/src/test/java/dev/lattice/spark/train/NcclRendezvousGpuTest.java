package dev.lattice.spark.train;

import dev.lattice.parallel.comm.CommWorld;
import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.parallel.nccl.LocalNcclGroupIds;
import dev.lattice.parallel.nccl.NcclGroupIds;
import dev.lattice.parallel.nccl.NcclWorld;
import dev.lattice.trainer.cli.TrainCommand;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code --devices cuda} after the rendezvous, without Spark (GPU machines only; skipped elsewhere): rank 0's ids for
 * {@link NcclGroupKeys} travel as an {@link NcclIdMessage}, each rank decodes them into the NCCL world its JVM shares
 * through {@link WorldRegistry} and trains on the GPU {@link DeviceAssignment} gives it, as {@code RankTask} does.
 * The trainer must ask for exactly the groups rank 0 made ids for.
 */
class NcclRendezvousGpuTest {

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"2 --tensor-model-parallel-size 2", "2 --pipeline-model-parallel-size 2",
            "2 --zero-stage 1", "4 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2",
            "4 --pipeline-model-parallel-size 2 --zero-stage 1"})
    void ranksTrainOnNcclWorldsBuiltFromRankZerosMessage(String layout) throws Exception {
        String[] parts = layout.split(" ");
        int world = Integer.parseInt(parts[0]);
        assumeTrue(Cuda.available(), () -> "no CUDA: " + Cuda.unavailableReason());
        assumeTrue(Cuda.deviceCount() >= world, () -> world + " ranks need " + world + " GPUs, this machine has "
                + Cuda.deviceCount());
        Path save = tmp.resolve("run");
        List<String> a = new ArrayList<>(TrainFixtures.args(TrainFixtures.corpus(tmp), save, "--devices", "cuda",
                "--world-size", parts[0]));
        a.set(a.indexOf("--train-iters") + 1, "6");
        a.addAll(Arrays.asList(parts).subList(1, parts.length));
        TrainCommand.Parsed parsed = TrainCommand.parse(a.toArray(new String[0]));
        TrainCommand.RankSetup setup = TrainCommand.prepare(parsed.options(), parsed.explicit(),
                new PrintStream(new ByteArrayOutputStream()));

        // rank 0
        List<String> keys = NcclGroupKeys.of(setup);
        String message = NcclIdMessage.encode(LocalNcclGroupIds.generate(keys));
        // every rank
        String worldId = "lattice-gpu-test-" + java.util.UUID.randomUUID();
        Set<String> asked = ConcurrentHashMap.newKeySet();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8);
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<?>> ranks = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> {
                    Map<String, byte[]> ids = NcclIdMessage.decode(message);
                    LocalNcclGroupIds local = new LocalNcclGroupIds(ids);
                    NcclGroupIds recording = key -> {
                        asked.add(key);
                        return local.idFor(key);
                    };
                    CommWorld comm = WorldRegistry.acquire(worldId, () -> new NcclWorld(world,
                            Duration.ofMinutes(2), recording));
                    int ordinal = DeviceAssignment.resolveCuda(new String[0], null, true, rank, 0,
                            Cuda.deviceCount()).ordinal();
                    try {
                        return setup.run(rank, comm, rank == world - 1 ? out : null, ordinal);
                    } catch (Throwable t) {
                        comm.abort("rank " + rank + " failed: " + t);
                        throw t;
                    } finally {
                        comm.closeRank(rank); // what the task completion listener does
                        WorldRegistry.release(worldId);
                    }
                }));
            }
            for (Future<?> f : ranks) {
                f.get(5, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
        String text = log.toString(StandardCharsets.UTF_8);
        assertEquals(new TreeSet<>(keys), new TreeSet<>(asked), "ids made = ids used");
        assertNull(WorldRegistry.lookup(worldId), "the last rank dropped the world");
        assertTrue(text.contains(" iteration        6/       6 |"), text);
        List<Double> losses = TrainFixtures.losses(save);
        assertEquals(6, losses.size(), text);
        assertTrue(losses.stream().allMatch(l -> Double.isFinite(l) && l > 0), losses.toString());
        assertTrue(losses.get(5) < losses.get(0), losses.toString());
    }
}
