package dev.lattice.spark.train;

import dev.lattice.parallel.comm.CommWorld;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.parallel.nccl.NcclGroupIds;
import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.cli.TrainCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The NCCL group keys rank 0 generates ids for must be exactly the groups the trainer asks its world for: checked
 * against explicit lists, and against the real {@code RankSetup.run} of tiny CPU runs whose world records every group
 * the ranks request.
 */
class NcclGroupKeysTest {

    @TempDir
    static Path tmp;

    private static String data;

    @BeforeAll
    static void corpus() throws Exception {
        data = TrainFixtures.corpus(tmp);
    }

    @Test
    void tp2Pp2Dp2WithTiedEmbeddings() {
        // rank = tp + 2·(dp + 2·pp): pipelines {0,4} {1,5} {2,6} {3,7}, DP pairs {0,2} {1,3} {4,6} {5,7}
        List<String> keys = NcclGroupKeys.of(new Topology(8, 2, 1, 2), true, 0);
        assertEquals(List.of("tp[0,1]", "pp[0,4]", "embedding[0,4]", "dp[0,2]", "world[0,1,2,3,4,5,6,7]",
                "pp[1,5]", "embedding[1,5]", "dp[1,3]", "tp[2,3]", "pp[2,6]", "embedding[2,6]", "pp[3,7]",
                "embedding[3,7]", "tp[4,5]", "dp[4,6]", "dp[5,7]", "tp[6,7]"), keys);
    }

    @Test
    void embeddingGroupsJoinOnlyTheFirstAndLastStageAndOnlyWhenTied() {
        Topology pp4 = new Topology(4, 1, 1, 4);
        assertEquals(List.of("pp[0,1,2,3]", "embedding[0,3]", "world[0,1,2,3]"), NcclGroupKeys.of(pp4, true, 0));
        assertEquals(List.of("pp[0,1,2,3]", "world[0,1,2,3]"), NcclGroupKeys.of(pp4, false, 0));
    }

    @Test
    void aDpGroupOfOneExistsOnlyWithZero() {
        assertEquals(List.of("world[0]"), NcclGroupKeys.of(new Topology(1, 1, 1, 1), true, 0));
        assertEquals(List.of("dp[0]", "world[0]"), NcclGroupKeys.of(new Topology(1, 1, 1, 1), true, 1));
        assertEquals(List.of("tp[0,1]", "world[0,1]"), NcclGroupKeys.of(new Topology(2, 2, 1, 1), true, 0));
        assertEquals(List.of("tp[0,1]", "dp[0]", "world[0,1]", "dp[1]"),
                NcclGroupKeys.of(new Topology(2, 2, 1, 1), true, 2));
    }

    /** Runs the layout's ranks through the trainer on the CPU and compares what they asked for with the keys. */
    @ParameterizedTest
    @ValueSource(strings = {
            "--world-size 8 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2",
            "--world-size 4 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2"
                    + " --untie-embeddings-and-output-weights --zero-stage 1",
            "--world-size 4 --pipeline-model-parallel-size 4",
            "--world-size 2 --zero-stage 3",
            "--world-size 2 --pipeline-model-parallel-size 2",
            "--world-size 1",
            "--world-size 1 --zero-stage 1"})
    void equalTheGroupsTheTrainerRequests(String layout) throws Exception {
        List<String> a = new ArrayList<>(TrainFixtures.args(data, tmp.resolve("unused")));
        int save = a.indexOf("--save");
        a.remove(save + 1);
        a.remove(save);
        a.set(a.indexOf("--train-iters") + 1, "2");
        a.set(a.indexOf("--num-layers") + 1, "4");
        a.addAll(Arrays.asList(layout.split(" ")));
        TrainCommand.Parsed parsed = TrainCommand.parse(a.toArray(new String[0]));
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        TrainCommand.RankSetup setup = TrainCommand.prepare(parsed.options(), parsed.explicit(), quiet);
        int world = setup.topology().world();
        RecordingWorld recorder = new RecordingWorld(new InJvmWorld(world, Duration.ofMinutes(1), 0, 1234));
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<?>> ranks = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> {
                    try {
                        return setup.run(rank, recorder, null, -1);
                    } catch (Throwable t) {
                        recorder.abort("rank " + rank + " failed: " + t);
                        throw t;
                    }
                }));
            }
            for (Future<?> f : ranks) {
                f.get(2, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
        List<String> keys = NcclGroupKeys.of(setup);
        assertEquals(keys.size(), new TreeSet<>(keys).size(), "no key twice: " + keys);
        assertEquals(new TreeSet<>(recorder.requested.keySet()), new TreeSet<>(keys), layout);
    }

    /** A world that records the NCCL key of every group a rank asks for, and lets an in-JVM world do the work. */
    private static final class RecordingWorld implements CommWorld {

        final Map<String, Boolean> requested = new ConcurrentHashMap<>();
        private final InJvmWorld inner;

        RecordingWorld(InJvmWorld inner) {
            this.inner = inner;
        }

        @Override
        public int size() {
            return inner.size();
        }

        @Override
        public void abort(String reason) {
            inner.abort(reason);
        }

        @Override
        public Map<String, Long> bytesByGroupName() {
            return inner.bytesByGroupName();
        }

        @Override
        public Communicator world(int rank) {
            int[] all = new int[size()];
            for (int i = 0; i < all.length; i++) {
                all[i] = i;
            }
            requested.put(NcclGroupIds.key("world", all), true);
            return inner.world(rank);
        }

        @Override
        public Communicator group(int rank, int[] members, String name) {
            requested.put(NcclGroupIds.key(name, members), true);
            return inner.group(rank, members, name);
        }

        @Override
        public void closeRank(int rank) {
            inner.closeRank(rank);
        }
    }
}
