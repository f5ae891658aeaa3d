package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ZeRO-3 hands the storage of gathered parameters and packed buffers back as soon as they are dead
 * ({@link Backend#recycle}). Here a recycled tensor is overwritten with NaN at once, as a reused GPU block would be
 * overwritten by its next tensor: a tensor recycled while still in use would change the losses or make them NaN.
 * The training must equal, bit for bit, the same training where nothing is recycled, on one rank and on three (whose
 * shards are padded).
 */
class Zero3RecycleTest {

    private static final ModelConfig CONFIG = ModelConfig.gpt2(16, 3, 4, 37, 8).withPaddedVocab(40);

    private static Batch batch(int seed) {
        Random r = new Random(seed);
        float[] mask = new float[16];
        Arrays.fill(mask, 1f);
        return new Batch(r.ints(16, 0, 37).toArray(), r.ints(16, 0, 37).toArray(), mask, 2, 8);
    }

    /** A CPU backend whose recycle poisons the tensor with NaN and counts. */
    private static Backend poisoning(CpuBackend cpu, AtomicInteger recycled) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("recycle")) {
                        cpu.fill((Tensor) args[0], Float.NaN);
                        recycled.incrementAndGet();
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
        Thread[] threads = new Thread[ranks];
        Throwable[] failure = new Throwable[1];
        for (int rank = 0; rank < ranks; rank++) {
            int r = rank;
            threads[r] = new Thread(() -> {
                try (CpuBackend cpu = new CpuBackend();
                     GptModel model = new GptModel(CONFIG, poison ? poisoning(cpu, recycled) : cpu, false)) {
                    model.initialize(3, 0.02);
                    Zero3Sync sync = new Zero3Sync(world.world(r), model, 0.9, 0.95, 1e-8, 0.1);
                    float[] w = new float[16];
                    Arrays.fill(w, 1f / 16 / ranks);
                    for (int step = 0; step < 4; step++) {
                        model.zeroGradients();
                        losses[r][step] = model.forward(batch(10 * step + r))[0];
                        model.backward(w);
                        sync.reduceClipStep(model, 1e-2, 1.0);
                    }
                } catch (Throwable t) {
                    synchronized (failure) {
                        failure[0] = t;
                    }
                    world.abort("rank " + r + " failed: " + t);
                } finally {
                    world.closeRank(r);
                }
            });
            threads[r].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure[0] != null) {
            throw new AssertionError("a rank failed", failure[0]);
        }
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
