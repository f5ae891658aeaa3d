package dev.lattice.trainer.bench;

import dev.lattice.trainer.backend.cuda.CudaBackend;
import dev.lattice.trainer.backend.cuda.GemmPrecision;
import dev.lattice.trainer.engine.Flops;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.Recomputation;
import dev.lattice.trainer.optim.AdamW;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * One GPU's training-step throughput on the workload of {@code torch_gpt_baseline.py} (GPT-2 shapes, random tokens,
 * tied embeddings, AdamW): median step time over the measured steps (warm-up excluded), tokens/s, model TFLOP/s
 * (Megatron's FLOP count), MFU against the dense bf16 peak, and peak GPU memory of the caching allocator.
 * Flags follow the PyTorch peer: {@code --layers 12 --hidden 768 --heads 12 --vocab 50304 --seq 1024 --micro 16
 * --steps 30 --warmup 10 --peak 989 --precision bf16 --device 0}; {@code --profile} (each backend call timed
 * synchronised) or {@code --timeline} (CUDA events around each call, unsynchronised: GPU time and stream idle time
 * per call) after the measured steps; data parallelism with {@code --dp N}
 * (ZeRO-1 over NCCL), {@code --overlap-grad-reduce}, {@code --grad-reduce-in-bf16}, {@code --overlap-param-gather},
 * {@code --ddp-bucket-size N};
 * or tensor parallelism with {@code --tp N} (Megatron's column/row-parallel layers over NCCL, one micro-batch shared
 * by the N GPUs) and {@code --sequence-parallel}.
 */
public final class GpuTrainingBenchmark {

    private static boolean PROFILE;
    private static boolean TIMELINE;
    // --overlap-grad-reduce / --grad-reduce-in-bf16 (data parallelism), as in training
    private static boolean OVERLAP;
    private static boolean REDUCE_IN_BF16;
    private static boolean PARAM_GATHER;
    private static boolean SEQUENCE_PARALLEL;
    private static long BUCKET_ELEMENTS; // --ddp-bucket-size, as in training

    private GpuTrainingBenchmark() {
    }

    /** What one workload measured: total tokens/s over its GPUs, model TFLOP/s and MFU per GPU, peak GiB per GPU. */
    public record Result(int gpus, double tokensPerSecond, double tflopsPerGpu, double mfu, double peakGiB) {
    }

    public static void main(String[] args) {
        measure(args);
    }

    /** Runs one workload (the flags above) and returns its numbers; each rank also prints its line. */
    public static Result measure(String[] args) {
        int layers = flag(args, "--layers", 12);
        int hidden = flag(args, "--hidden", 768);
        int heads = flag(args, "--heads", 12);
        int vocab = flag(args, "--vocab", 50304);
        int seq = flag(args, "--seq", 1024);
        int micro = flag(args, "--micro", 16);
        int steps = flag(args, "--steps", 30);
        int warmup = flag(args, "--warmup", 10);
        int device = flag(args, "--device", 0);
        double peak = Double.parseDouble(text(args, "--peak", "989"));
        GemmPrecision precision = GemmPrecision.parse(text(args, "--precision", "bf16"));
        Recomputation recompute = Recomputation.fromFlags(Arrays.asList(args).contains("--recompute-activations"),
                text(args, "--recompute-granularity", null));

        int dp = flag(args, "--dp", 1);
        int tp = flag(args, "--tp", 1);
        if (tp > 1 && dp > 1) {
            throw new IllegalArgumentException("--tp " + tp + " with --dp " + dp + ": the benchmark runs one of the two"
                    + " (lattice train --mock-data runs any layout)");
        }
        SEQUENCE_PARALLEL = Arrays.asList(args).contains("--sequence-parallel");
        int ranksCount = Math.max(dp, tp);
        PROFILE = Arrays.asList(args).contains("--profile");
        TIMELINE = Arrays.asList(args).contains("--timeline");
        OVERLAP = Arrays.asList(args).contains("--overlap-grad-reduce");
        REDUCE_IN_BF16 = Arrays.asList(args).contains("--grad-reduce-in-bf16");
        PARAM_GATHER = Arrays.asList(args).contains("--overlap-param-gather");
        BUCKET_ELEMENTS = Long.parseLong(text(args, "--ddp-bucket-size",
                Long.toString(dev.lattice.trainer.engine.DataParallelSync.DEFAULT_BUCKET_ELEMENTS)));
        // The PyTorch peer's vocabulary is already a multiple of 128; ours pads the GPT-2 vocabulary to it.
        ModelConfig c = ModelConfig.gpt2(hidden, layers, heads, Math.min(vocab, 50257), seq).withPaddedVocab(vocab);
        dev.lattice.parallel.nccl.NcclWorld world = ranksCount == 1 ? null
                : new dev.lattice.parallel.nccl.NcclWorld(ranksCount, java.time.Duration.ofMinutes(5),
                        new dev.lattice.parallel.nccl.LocalNcclGroupIds());
        double[][] results = new double[ranksCount][];
        Thread[] ranks = new Thread[ranksCount];
        Throwable[] failure = new Throwable[1];
        for (int r = 0; r < ranksCount; r++) {
            int rank = r;
            ranks[r] = new Thread(() -> {
                try {
                    results[rank] = rank(c, device + rank, precision, recompute, micro, seq, steps, warmup, peak,
                            world, rank, dp, tp);
                } catch (Throwable t) {
                    failure[0] = t;
                    if (world != null) {
                        world.abort("rank " + rank + " failed: " + t);
                    }
                }
            }, "rank-" + rank);
            ranks[r].start();
        }
        for (Thread t : ranks) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while benchmarking");
            }
        }
        if (failure[0] != null) {
            throw new IllegalStateException("benchmark failed", failure[0]);
        }
        double tokens = 0;
        for (double[] r : results) {
            tokens += r[0];
        }
        if (tp > 1) { // the ranks share each micro-batch
            tokens = results[0][0];
            System.out.printf(Locale.ROOT, "lattice TP%d%s total: %.0f tokens/s%n", tp,
                    SEQUENCE_PARALLEL ? " sequence-parallel" : "", tokens);
        }
        if (dp > 1) {
            System.out.printf(Locale.ROOT, "lattice DP%d ZeRO-1%s%s%s total: %.0f tokens/s%n", dp,
                    OVERLAP ? " overlapped" : "", REDUCE_IN_BF16 ? " bf16-reduce" : "",
                    PARAM_GATHER ? " param-gather-overlapped" : "", tokens);
        }
        return new Result(ranksCount, tokens, results[0][1], results[0][1] / peak, results[0][2]);
    }

    /** One rank's measured steps; returns {tokens/s, model TFLOP/s, peak GiB}. */
    private static double[] rank(ModelConfig c, int device, GemmPrecision precision, Recomputation recompute,
                                 int micro,
                                 int seq, int steps, int warmup, double peak,
                                 dev.lattice.parallel.nccl.NcclWorld world, int rank, int dp, int tp) {
        OpProfile profile = PROFILE ? new OpProfile() : null;
        try (CudaBackend be = new CudaBackend(device, precision);
             StreamTimeline timeline = TIMELINE ? new StreamTimeline(be) : null;
             GptModel model = new GptModel(c, profile != null ? profile.wrap(be) : timeline != null
                     ? timeline.wrap(be) : be, recompute, tensorParallel(world, rank, device, be, tp),
                     dev.lattice.trainer.model.PipelineStage.whole(c)).withSequenceParallel(SEQUENCE_PARALLEL)) {
            model.initialize(1, 0.02); // the same full draw on every rank, then sharded
            dev.lattice.trainer.engine.GradientSync sync;
            dev.lattice.parallel.nccl.NcclCommunicator traced = null; // rank 0's DP group under --timeline
            if (dp == 1) { // one rank, or TP ranks (the gradient norm sums over TP itself)
                sync = new dev.lattice.trainer.engine.SingleRankSync(new AdamW(model.backend(), model.specs(),
                        model.parameters(), 0.9, 0.95, 1e-8, 0.1));
            } else {
                world.bindRank(rank, device, be.stream());
                dev.lattice.parallel.comm.Communicator dpGroup = world.group(rank, ranks(dp), "dp");
                if (timeline != null && rank == 0 && dpGroup instanceof dev.lattice.parallel.nccl.NcclCommunicator n) {
                    traced = n;
                }
                sync = new dev.lattice.trainer.engine.DataParallelSync(dpGroup, 1, model,
                        0.9, 0.95, 1e-8, 0.1, new dev.lattice.trainer.engine.DataParallelSync.Options(
                        BUCKET_ELEMENTS, REDUCE_IN_BF16, OVERLAP,
                        PARAM_GATHER));
                String bf16Gather = ((dev.lattice.trainer.engine.DataParallelSync) sync).bf16GatherSummary();
                if (rank == 0 && bf16Gather != null) {
                    System.out.println("lattice DP " + bf16Gather);
                }
            }
            model.onGradientsAccumulated(sync::gradientsAccumulated);
            Random r = new Random(1 + (tp > 1 ? 0 : rank)); // TP ranks share the micro-batch
            int n = micro * seq;
            int[] tokens = r.ints(n, 0, c.vocabSize()).toArray();
            int[] targets = r.ints(n, 0, c.vocabSize()).toArray();
            float[] mask = new float[n];
            Arrays.fill(mask, 1f);
            Batch b = new Batch(tokens, targets, mask, micro, seq);
            float[] w = new float[n];
            Arrays.fill(w, 1f / (n * dp));
            double flops = Flops.perIteration(c, micro, seq) / tp;
            if (rank == 0) {
                System.out.printf(Locale.ROOT, "lattice %s | GPT-2 %d layers, hidden %d, heads %d, T=%d, micro-batch"
                        + " %d, vocab %d, %d GPU(s)%s: %,d parameters, %.1f TFLOP per step per GPU | cuBLASLt"
                        + " epilogues %s | attention %s | recomputation %s%n", be.name(), c.numLayers(),
                        c.hiddenSize(), c.numAttentionHeads(), seq, micro, c.paddedVocabSize(), Math.max(dp, tp),
                        tp > 1 ? " TP" + tp + (SEQUENCE_PARALLEL ? " sequence-parallel" : "") : "",
                        model.layout().numel(), flops / 1e12, be.fusesEpilogues() ? "on" : "off", be.attentionInfo(),
                        recompute.name().toLowerCase(Locale.ROOT));
            }
            double[] times = new double[steps];
            float loss = 0;
            for (int i = 0; i < warmup + steps; i++) {
                if (i == warmup) {
                    be.resetPeak();
                }
                be.synchronize();
                long t0 = System.nanoTime();
                float[] l = step(model, sync, b, w);
                be.synchronize();
                double s = (System.nanoTime() - t0) / 1e9;
                loss = l[0];
                if (i >= warmup) {
                    times[i - warmup] = s;
                }
            }
            if (profile != null && rank == 0) {
                profile.start();
                for (int i = 0; i < 3; i++) {
                    step(model, sync, b, w);
                }
                profile.stop();
                System.out.print(profile.render(3));
                System.out.println("cuBLASLt epilogues " + (be.fusesEpilogues() ? "on" : "off") + ":\n"
                        + be.epilogueReport());
            }
            if (timeline != null) { // every rank steps (collectives), rank 0 prints
                for (int i = 0; i < 3; i++) {
                    be.synchronize();
                    timeline.begin();
                    if (traced != null) {
                        traced.startTrace();
                    }
                    step(model, sync, b, w);
                    timeline.end(traced != null ? traced.stopTrace() : List.of());
                }
                if (rank == 0) {
                    System.out.print(timeline.render());
                }
            }
            double[] sorted = times.clone();
            Arrays.sort(sorted);
            double median = sorted[sorted.length / 2];
            double tflops = flops / median / 1e12;
            System.out.printf(Locale.ROOT, "lattice rank %d: median step %.1f ms | %.0f tokens/s | %.1f TFLOP/s |"
                    + " MFU %.1f%% of %.0f | peak memory %.2f GiB (reserved %.2f GiB) | cudaMalloc calls %d |"
                    + " loss[0] %.3f%n", rank, median * 1e3, n / median, tflops, 100 * tflops / peak, peak,
                    be.peakBytesInUse() / 1073741824.0, be.bytesReserved() / 1073741824.0, be.mallocCalls(), loss);
            if (world != null) {
                world.closeRank(rank);
            }
            return new double[] {n / median, tflops, be.peakBytesInUse() / 1073741824.0};
        }
    }

    /** This rank's tensor-parallel group over every rank of the world (bound to its GPU first), or NONE. */
    private static dev.lattice.trainer.model.TensorParallel tensorParallel(dev.lattice.parallel.nccl.NcclWorld world,
                                                                           int rank, int device, CudaBackend be,
                                                                           int tp) {
        if (tp == 1) {
            return dev.lattice.trainer.model.TensorParallel.NONE;
        }
        world.bindRank(rank, device, be.stream());
        return dev.lattice.trainer.model.TensorParallel.of(world.group(rank, ranks(tp), "tp"));
    }

    /** Ranks 0 … n − 1: the one group of a benchmark's ranks. */
    private static int[] ranks(int n) {
        return java.util.stream.IntStream.range(0, n).toArray();
    }

    /** One training step (one micro-batch, AdamW at lr 1e-4, clip 1.0); returns the per-token losses. */
    private static float[] step(GptModel model, dev.lattice.trainer.engine.GradientSync sync, Batch b, float[] w) {
        model.zeroGradients();
        sync.beginBackward(1);
        float[] losses = model.forward(b, w);
        model.backward(w);
        model.finishGradients(); // sequence parallelism's sums of the replicated gradients, as Trainer does
        sync.reduceClipStep(model, 1e-4, 1.0);
        return losses;
    }

    private static int flag(String[] a, String name, int def) {
        return Integer.parseInt(text(a, name, Integer.toString(def)));
    }

    private static String text(String[] a, String name, String def) {
        for (int i = 0; i < a.length - 1; i++) {
            if (a[i].equals(name)) {
                return a[i + 1];
            }
        }
        return def;
    }
}
