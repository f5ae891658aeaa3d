package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ZeRO-3 hands the storage of gathered parameters and packed buffers back as soon as they are dead
 * ({@link Backend#recycle}). The CPU backend overwrites a recycled tensor with NaN at once, as a reused GPU block
 * would be overwritten by its next tensor: a tensor recycled while still in use would change the losses or make them
 * NaN. The training must equal, bit for bit, the same training where recycling does nothing, on one rank and on three
 * (whose shards are padded).
 */
class Zero3RecycleTest {

    private static final ModelConfig CONFIG = ModelConfig.gpt2(16, 3, 4, 37, 8).withPaddedVocab(40);

    /**
     * A CPU backend whose recycle counts and then poisons the tensor with NaN (the CPU backend's own recycle) or,
     * for the reference, leaves it alone.
     */
    private static Backend recycling(CpuBackend cpu, boolean poison, AtomicInteger recycled) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("recycle")) {
                        recycled.incrementAndGet();
                        if (poison) {
                            cpu.recycle((Tensor) args[0]);
                        }
                        return null;
                    }
                    try {
                        return method.invoke(cpu, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    private static float[][] train(int ranks, boolean poison, AtomicInteger recycled) throws Exception {
        InJvmWorld world = new InJvmWorld(ranks, Duration.ofSeconds(60));
        float[][] losses = new float[ranks][4];
        RankThreads.run(world, ranks, r -> {
            try (CpuBackend cpu = new CpuBackend();
                 GptModel model = new GptModel(CONFIG, recycling(cpu, poison, recycled), false)) {
                model.initialize(3, 0.02);
                Zero3Sync sync = new Zero3Sync(world.world(r), model, 0.9, 0.95, 1e-8, 0.1);
                float[] w = new float[16];
                Arrays.fill(w, 1f / 16 / ranks);
                for (int step = 0; step < 4; step++) {
                    model.zeroGradients();
                    losses[r][step] = model.forward(RankThreads.tinyBatch(10 * step + r))[0];
                    model.backward(w);
                    sync.reduceClipStep(model, 1e-2, 1.0);
                }
            }
        });
        return losses;
    }

    @Test
    void recycledTensorsAreDeadOnOneRankAndOnThree() throws Exception {
        for (int ranks : new int[] {1, 3}) {
            AtomicInteger recycled = new AtomicInteger();
            float[][] reference = train(ranks, false, new AtomicInteger());
            float[][] poisoned = train(ranks, true, recycled);
            for (int r = 0; r < ranks; r++) {
                assertArrayEquals(reference[r], poisoned[r], "rank " + r + " of " + ranks);
                for (float l : poisoned[r]) {
                    assertTrue(Float.isFinite(l), "rank " + r + " of " + ranks + ": " + Arrays.toString(poisoned[r]));
                }
            }
            // every acquire's parameters (3 layers, embeddings, head; forward and backward; 4 steps) come back
            assertTrue(recycled.get() >= ranks * 4 * 2 * 5, ranks + " ranks: " + recycled.get() + " recycled");
        }
    }
}
