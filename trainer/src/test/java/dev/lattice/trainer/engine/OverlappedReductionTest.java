package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.CommBuffer;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.InJvmWorld;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.comm.Work;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * When --overlap-grad-reduce starts each bucket: only during the last micro-batch's backward pass, the bucket of the
 * last layers first, every bucket before the backward pass returns; and the reduced result is the one the
 * non-overlapped sync computes.
 */
class OverlappedReductionTest {

    /** Records the asynchronous reduce-scatters (send offset, and whether the backward pass was still running). */
    private static final class Recording extends ForwardingCommunicator {
        final List<Long> launches = new ArrayList<>();
        final List<Boolean> duringBackward = new ArrayList<>();
        boolean inBackward;

        Recording(Communicator inner) {
            super(inner);
        }

        @Override
        public Work reduceScatterAsync(CommBuffer send, long sendOff, CommBuffer recv, long recvOff, long count,
                                       ReduceOp op) {
            launches.add(sendOff);
            duringBackward.add(inBackward);
            return super.reduceScatterAsync(send, sendOff, recv, recvOff, count, op);
        }
    }

    private static final ModelConfig CONFIG = ModelConfig.gpt2(16, 3, 4, 37, 8).withPaddedVocab(40);
    private static final long BUCKET = 900; // several buckets: each layer holds ~3.3k elements

    private static dev.lattice.trainer.model.ParameterLayout model(ModelConfig c) {
        return new dev.lattice.trainer.model.ParameterLayout(c);
    }

    private static Batch batch(int seed) {
        Random r = new Random(seed);
        int n = 2 * 8;
        float[] mask = new float[n];
        Arrays.fill(mask, 1f);
        return new Batch(r.ints(n, 0, 37).toArray(), r.ints(n, 0, 37).toArray(), mask, 2, 8);
    }

    private static float[] weights() {
        float[] w = new float[16];
        Arrays.fill(w, 1f / 32);
        return w;
    }

    /** Two micro-batches through a one-rank DP group; returns the parameters after the step. */
    private static float[] step(boolean overlap, Recording[] seen) {
        InJvmWorld world = new InJvmWorld(1, Duration.ofSeconds(30));
        try (CpuBackend be = new CpuBackend(); GptModel model = new GptModel(CONFIG, be, false)) {
            model.initialize(7, 0.02);
            Recording dp = new Recording(world.world(0));
            seen[0] = dp;
            DataParallelSync sync = new DataParallelSync(dp, 1, model, 0.9, 0.95, 1e-8, 0.1,
                    new DataParallelSync.Options(BUCKET, false, overlap, false));
            model.onGradientsAccumulated(sync::gradientsAccumulated);
            model.zeroGradients();
            sync.beginBackward(2);
            for (int m = 0; m < 2; m++) {
                model.forward(batch(m));
                dp.inBackward = true;
                model.backward(weights());
                dp.inBackward = false;
                if (m == 0) {
                    assertEquals(List.of(), dp.launches, "a bucket started before the last micro-batch");
                }
            }
            sync.reduceClipStep(model, 1e-3, 1.0);
            float[] all = new float[0];
            for (var t : model.parameters().values()) {
                float[] x = be.toHost(t);
                float[] grown = Arrays.copyOf(all, all.length + x.length);
                System.arraycopy(x, 0, grown, all.length, x.length);
                all = grown;
            }
            return all;
        } finally {
            world.closeRank(0);
        }
    }

    /**
     * The bf16 parameter gather's flat order (the default: the model's norms, biases and embeddings first, the
     * product-only weights after them): every bucket still starts inside the backward pass, and the step's result is
     * the non-overlapped one's.
     */
    @Test
    void inTheProductWeightsLastOrderBucketsStillStartDuringTheBackwardPass() {
        Recording[] overlapped = new Recording[1];
        float[] withOverlap = step(true, overlapped);
        Recording[] plain = new Recording[1];
        float[] without = step(false, plain);
        Recording r = overlapped[0];
        assertTrue(r.launches.size() >= 4, "expected several buckets, got " + r.launches);
        assertEquals(r.launches.size(), r.duringBackward.stream().filter(b -> b).count(),
                "every bucket starts inside the backward pass: " + r.duringBackward);
        // the bucket holding the embeddings and the first layers' norms is final only near the end
        assertTrue(r.launches.indexOf(0L) > r.launches.size() / 2, "the norms, biases and embeddings late: "
                + r.launches);
        assertEquals(Arrays.toString(without), Arrays.toString(withOverlap));
    }

    @Test
    void bucketsStartDuringTheLastBackwardPassLastLayersFirst() {
        // in the model's order (the flat layout before the bf16 parameter gather)
        System.setProperty("lattice.zero.bf16ParamGather", "false");
        Recording[] overlapped = new Recording[1];
        float[] withOverlap;
        Recording[] plain = new Recording[1];
        float[] without;
        try {
            withOverlap = step(true, overlapped);
            without = step(false, plain);
        } finally {
            System.clearProperty("lattice.zero.bf16ParamGather");
        }
        Recording r = overlapped[0];
        assertTrue(r.launches.size() >= 4, "expected several buckets, got " + r.launches);
        assertEquals(r.launches.size(), r.duringBackward.stream().filter(b -> b).count(),
                "every bucket starts inside the backward pass: " + r.duringBackward);
        // the last layer's buckets (late in the flat layout) start first; then the embeddings' (offset 0, final only
        // after the embedding's backward, and the tied output layer's before it; a bucket of their own); the first
        // layer's come last (its QKV and FC1 weight gradients are made after the embedding backward), and nothing
        // else after the embeddings
        long layer1 = 0; // where layer 1 starts in the flat layout (one rank: no padding)
        for (var spec : model(CONFIG).specs()) {
            if (spec.name().startsWith("decoder.layers.1.")) {
                break;
            }
            long n = 1;
            for (int d : spec.shape()) {
                n *= d;
            }
            layer1 += n;
        }
        int embeddings = r.launches.indexOf(0L);
        assertTrue(embeddings > 0, "embeddings' bucket " + r.launches);
        for (int i = 0; i < r.launches.size(); i++) {
            long at = r.launches.get(i);
            assertTrue(i <= embeddings ? at == 0 || at >= layer1 : at > 0 && at < layer1,
                    "launch " + i + " at " + at + " (layer 1 at " + layer1 + "): " + r.launches);
        }
        List<Long> sorted = new ArrayList<>(r.launches);
        sorted.sort(null);
        assertTrue(r.launches.get(0) >= sorted.get(sorted.size() / 2), "first bucket " + r.launches);
        assertEquals(plain[0].launches.size(), r.launches.size());
        assertTrue(plain[0].duringBackward.stream().noneMatch(b -> b), "without overlap, after the backward pass");
        assertEquals(Arrays.toString(without), Arrays.toString(withOverlap));
    }
}
