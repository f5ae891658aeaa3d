package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ranks of a DP group must cut the same ZeRO layout (and gather the same buckets in bf16): executors started with
 * different options would otherwise hang or mix data types in one all-gather. The sync checks it once, at
 * construction, and names what differs.
 */
class DataParallelLayoutAgreementTest {

    private static final ModelConfig CONFIG = ModelConfig.gpt2(16, 3, 4, 37, 8).withPaddedVocab(40);

    /** Each rank builds its sync with its own bucket size; returns what each rank's construction threw (or null). */
    private static List<Object> build(long bucketRank0, long bucketRank1) throws Exception {
        InJvmWorld world = new InJvmWorld(2, Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Object>> ranks = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> {
                    try (CpuBackend be = new CpuBackend(); GptModel model = new GptModel(CONFIG, be, false)) {
                        model.initialize(7, 0.02);
                        new DataParallelSync(world.world(rank), 1, model, 0.9, 0.95, 1e-8, 0.1,
                                new DataParallelSync.Options(rank == 0 ? bucketRank0 : bucketRank1, false, false,
                                        false));
                        return null;
                    } catch (IllegalStateException e) {
                        return e.getMessage();
                    } finally {
                        world.closeRank(rank);
                    }
                }));
            }
            List<Object> out = new ArrayList<>();
            for (Future<Object> f : ranks) {
                out.add(f.get(60, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void ranksWithTheSameLayoutBuildTheirSyncs() throws Exception {
        List<Object> out = build(900, 900);
        assertNull(out.get(0));
        assertNull(out.get(1));
    }

    @Test
    void ranksThatCutDifferentLayoutsFailAtConstructionNamingTheGroup() throws Exception {
        List<Object> out = build(900, 5000);
        for (int r = 0; r < 2; r++) {
            String m = (String) out.get(r);
            assertTrue(m != null && m.contains("disagree on the ZeRO layout") && m.contains("rank " + r)
                    && m.contains("-Dlattice.zero"), String.valueOf(m));
        }
    }
}
