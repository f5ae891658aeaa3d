package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ZeRO-3 packs shards side by side for its collectives: the gradients' reduce-scatter in groups of parameters. One
 * group a parameter (every group boundary, two groups in flight) and one group for all give bit-identical training
 * over 3 ranks (the element-wise sums are the same; only the packing differs), with padded shards (hidden 16 over 3).
 */
class Zero3PackingTest {

    private static final ModelConfig CONFIG = ModelConfig.gpt2(16, 2, 4, 37, 8).withPaddedVocab(40);
    private static final int RANKS = 3;

    /** Each rank's parameters (gathered) after 3 steps, rank-major. */
    private static Map<String, float[]> train(long reduceElements) throws Exception {
        InJvmWorld world = new InJvmWorld(RANKS, Duration.ofSeconds(60));
        Map<String, float[]>[] out = new Map[RANKS];
        RankThreads.run(world, RANKS, r -> {
            try (CpuBackend be = new CpuBackend(); GptModel model = new GptModel(CONFIG, be, false)) {
                model.initialize(5, 0.02);
                Zero3Sync sync = new Zero3Sync(world.world(r), model, 0.9, 0.95, 1e-8, 0.1)
                        .withReduceElements(reduceElements);
                float[] w = new float[16];
                Arrays.fill(w, 1f / (16 * RANKS));
                for (int step = 0; step < 3; step++) {
                    model.zeroGradients();
                    model.forward(RankThreads.tinyBatch(10 * step + r));
                    model.backward(w);
                    sync.reduceClipStep(model, 1e-2, 1.0);
                }
                Map<String, float[]> params = new LinkedHashMap<>();
                sync.fullParameters().forEach((name, t) -> params.put(name, be.toHost(t)));
                out[r] = params;
            }
        });
        for (int r = 1; r < RANKS; r++) {
            assertEquals(out[0].keySet(), out[r].keySet());
            for (String name : out[0].keySet()) {
                assertArrayEquals(out[0].get(name), out[r].get(name), "rank " + r + " " + name);
            }
        }
        return out[0];
    }

    @Test
    void gradientGroupsChangeNoBit() throws Exception {
        Map<String, float[]> oneGroup = train(Long.MAX_VALUE);
        Map<String, float[]> groupPerParameter = train(1);
        for (String name : oneGroup.keySet()) {
            assertArrayEquals(oneGroup.get(name), groupPerParameter.get(name), name);
        }
    }
}
