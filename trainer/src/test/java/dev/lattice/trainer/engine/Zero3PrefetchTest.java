package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.CommBuffer;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.parallel.comm.Work;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ZeRO-3's prefetch: from the second step on, each layer's gather is started while the previous layer is acquired
 * (asynchronous all-gathers), and the training is bit for bit the one without prefetching (a one-rank group: the
 * gathers copy the shards; a wrong or stale prefetch would show in the parameters).
 */
class Zero3PrefetchTest {

    /** Counts the asynchronous gathers. */
    private static final class Counting extends ForwardingCommunicator {
        final List<Long> asyncGathers = new ArrayList<>();

        Counting(Communicator inner) {
            super(inner);
        }

        @Override
        public Work allGatherAsync(CommBuffer s, long so, CommBuffer r, long ro, long c) {
            asyncGathers.add(c);
            return super.allGatherAsync(s, so, r, ro, c);
        }
    }

    private static final ModelConfig CONFIG = ModelConfig.gpt2(16, 3, 4, 37, 8).withPaddedVocab(40);

    @Test
    void layersArePrefetchedAndTheStepsAreUnchanged() {
        float[] w = new float[16];
        Arrays.fill(w, 1f / 16);
        float[][] losses = new float[2][];
        for (int variant = 0; variant < 2; variant++) {
            InJvmWorld world = new InJvmWorld(1, Duration.ofSeconds(30));
            try (CpuBackend be = new CpuBackend(); GptModel model = new GptModel(CONFIG, be, false)) {
                model.initialize(3, 0.02);
                Counting dp = new Counting(world.world(0));
                float[] l = new float[4];
                if (variant == 0) {
                    Zero3Sync sync = new Zero3Sync(dp, model, 0.9, 0.95, 1e-8, 0.1);
                    for (int step = 0; step < 4; step++) {
                        model.zeroGradients();
                        l[step] = model.forward(RankThreads.tinyBatch(step))[0];
                        model.backward(w);
                        sync.reduceClipStep(model, 1e-2, 1.0);
                        if (step == 0) {
                            // the first step learns the order: only guesses made after an order was seen
                            assertTrue(sync.prefetchesStarted() < 8, "first step " + sync.prefetchesStarted());
                        }
                    }
                    // 3 layers + embeddings + head, forward and backward: most acquires were prefetched
                    assertTrue(sync.prefetchesStarted() >= 3 * 8, "prefetches " + sync.prefetchesStarted());
                    // every gather, prefetched or not, went through the asynchronous all-gather
                    assertTrue(dp.asyncGathers.size() >= 2 * 5 * 4, "async gathers " + dp.asyncGathers.size());
                } else {
                    // the reference: the same optimizer on the full model, no ZeRO
                    SingleRankSync sync = new SingleRankSync(new dev.lattice.trainer.optim.AdamW(be, model.specs(),
                            model.parameters(), 0.9, 0.95, 1e-8, 0.1));
                    for (int step = 0; step < 4; step++) {
                        model.zeroGradients();
                        l[step] = model.forward(RankThreads.tinyBatch(step))[0];
                        model.backward(w);
                        sync.reduceClipStep(model, 1e-2, 1.0);
                    }
                }
                losses[variant] = l;
            } finally {
                world.closeRank(0);
            }
        }
        assertArrayEquals(losses[1], losses[0]);
    }
}
