package dev.lattice.trainer.cli;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.lattice.trainer.cli.TrainFixtures.baseArgs;
import static dev.lattice.trainer.cli.TrainFixtures.losses;
import static dev.lattice.trainer.cli.TrainFixtures.train;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data parallelism (ranks as threads, in-JVM communicator) must reproduce the single-rank run: the same loss curve
 * within 1e-5 relative and the same final weights, for every ZeRO stage. Only the order in which micro-batch gradients
 * are added differs, so results agree to rounding, not bit for bit.
 */
class DataParallelTrainingTest {

    @TempDir
    Path tmp;

    private List<String> args(String model, Path save, String... more) throws IOException {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String data = Files.exists(tmp.resolve("data/corpus_text_document.idx"))
                ? tmp.resolve("data/corpus_text_document").toString()
                : TrainFixtures.corpus(tmp.resolve("data"), tok, 300, 1);
        List<String> a = new ArrayList<>(baseArgs(model, tok, data));
        a.addAll(List.of("--global-batch-size", "8", "--train-iters", "20", "--save", save.toString(),
                "--distributed-timeout-minutes", "1"));
        a.addAll(List.of(more));
        return a;
    }

    @ParameterizedTest(name = "{0} world={1} TP={2} PP={3} ZeRO={4} layers={5} {6}")
    @CsvSource(nullValues = "-", value = {
            // data parallelism, every ZeRO stage
            "gpt2, 2, 1, 1, 0, 2, -", "llama, 2, 1, 1, 0, 2, -",
            "gpt2, 2, 1, 1, 1, 2, -", "llama, 2, 1, 1, 1, 2, -",
            "gpt2, 2, 1, 1, 2, 2, -", "llama, 2, 1, 1, 2, 2, -",
            "gpt2, 2, 1, 1, 3, 2, -", "llama, 2, 1, 1, 3, 2, -",
            // tensor parallelism, with and without sequence parallelism
            "gpt2, 2, 2, 1, 0, 2, -", "llama, 2, 2, 1, 0, 2, -",
            "gpt2, 2, 2, 1, 0, 2, --sequence-parallel", "llama, 2, 2, 1, 0, 2, --sequence-parallel",
            // pipeline parallelism: 1F1B on 2 and 4 stages, interleaved with 2 virtual stages per rank
            "gpt2, 2, 1, 2, 0, 2, -", "llama, 2, 1, 2, 0, 2, -",
            "gpt2, 4, 1, 4, 0, 4, -", "llama, 4, 1, 4, 0, 4, -",
            "gpt2, 2, 1, 2, 0, 4, --num-layers-per-virtual-pipeline-stage=1",
            "llama, 2, 1, 2, 0, 4, --num-layers-per-virtual-pipeline-stage=1",
            // 3D: TP2 × PP2 × DP2
            "gpt2, 8, 2, 2, 1, 2, -", "llama, 8, 2, 2, 1, 2, -",
            "gpt2, 4, 2, 1, 1, 2, -", "llama, 4, 2, 1, 1, 2, -", "gpt2, 8, 2, 2, 3, 2, -"})
    void parallelLayoutsReproduceTheSingleRankRun(String model, int world, int tp, int pp, int zero, int layers,
                                                  String extra) throws Exception {
        Path single = tmp.resolve("single");
        TrainFixtures.Run one = train(args(model, single, "--num-layers", Integer.toString(layers)));
        assertEquals(0, one.code(), one.err());
        Path dp = tmp.resolve("w" + world + "tp" + tp + "pp" + pp + "z" + zero);
        List<String> flags = args(model, dp, "--num-layers", Integer.toString(layers), "--world-size",
                Integer.toString(world), "--tensor-model-parallel-size", Integer.toString(tp),
                "--pipeline-model-parallel-size", Integer.toString(pp), "--zero-stage", Integer.toString(zero));
        if (extra != null) {
            flags.add(extra);
        }
        TrainFixtures.Run two = train(flags);
        assertEquals(0, two.code(), two.err());
        assertTrue(two.out().contains("TP " + tp + " × CP 1 × DP " + (world / tp / pp) + " × PP " + pp), two.out());
        List<Double> a = losses(single);
        List<Double> b = losses(dp);
        assertEquals(20, b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i), b.get(i), 1e-5 * Math.abs(a.get(i)), "iteration " + (i + 1));
        }
        // Both checkpoints read back as whole tensors, whatever layout wrote them (TP shards, stages, ZeRO files).
        var w1 = new dev.lattice.trainer.checkpoint.CheckpointStore(single.toString())
                .readFull(null, dev.lattice.trainer.engine.StagePlacement::stageOf, false).params();
        var w2 = new dev.lattice.trainer.checkpoint.CheckpointStore(dp.toString())
                .readFull(null, dev.lattice.trainer.engine.StagePlacement::stageOf, false).params();
        assertEquals(w1.keySet(), w2.keySet());
        for (String name : w1.keySet()) {
            float[] x = w1.get(name);
            float[] y = w2.get(name);
            // The key bias (GPT-2) adds q·b to every score of a row, which softmax ignores: its gradient is zero up to
            // rounding noise, and Adam turns that noise into full-size steps whose signs depend on summation order.
            // It cannot affect any output, so it is left out of the comparison.
            boolean[] skip = keyBiasRows(name, x.length);
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < x.length; i++) {
                if (skip[i]) {
                    continue;
                }
                diff += (double) (x[i] - y[i]) * (x[i] - y[i]);
                norm += (double) x[i] * x[i];
            }
            assertTrue(Math.sqrt(diff) <= 1e-5 * Math.sqrt(norm) + 1e-8, name + ": relative difference "
                    + Math.sqrt(diff / Math.max(norm, 1e-30)));
        }
    }

    /** Rows of the k part of a grouped QKV bias (hidden 32, 4 heads of 8; GPT-2 has one group per head). */
    private static boolean[] keyBiasRows(String name, int n) {
        boolean[] skip = new boolean[n];
        if (name.endsWith("linear_qkv.bias")) {
            int d = 8;
            int groups = n / (3 * d);
            for (int g = 0; g < groups; g++) {
                for (int j = 0; j < d; j++) {
                    skip[g * 3 * d + d + j] = true;
                }
            }
        }
        return skip;
    }

    /**
     * --overlap-grad-reduce starts each bucket's reduction during the backward passes; the sums are the same, so the
     * run is bit for bit the run without it (small buckets, so that several start at different times).
     */
    @ParameterizedTest(name = "{0} ZeRO-{1} {2}")
    @CsvSource(nullValues = "-", value = {"gpt2, 0, -", "gpt2, 1, -", "llama, 2, -", "llama, 1, -",
            // gradients summed after the backward passes: tied embeddings across stages, norms under SP
            "gpt2, 1, --world-size 4 --pipeline-model-parallel-size 2",
            "llama, 0, --world-size 4 --pipeline-model-parallel-size 2 --num-layers 4"
                    + " --num-layers-per-virtual-pipeline-stage 1",
            "gpt2, 1, --world-size 4 --tensor-model-parallel-size 2 --sequence-parallel",
            "gpt2, 1, --world-size 8 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2"
                    + " --sequence-parallel",
            // fp16: the scaled gradients travel and the step unscales the reduced ones (by a power of two: exact)
            "gpt2, 1, --world-size 2 --fp16 --initial-loss-scale 1024", "llama, 0, --world-size 2 --fp16"})
    void overlappedGradientReductionChangesNoBit(String model, int zero, String layout) throws Exception {
        List<String> extra = new ArrayList<>(layout == null ? List.of("--world-size", "2") : List.of(layout.split(" ")));
        extra.addAll(List.of("--zero-stage", Integer.toString(zero), "--ddp-bucket-size", "3000"));
        Path plain = tmp.resolve("plain");
        TrainFixtures.Run base = train(args(model, plain, extra.toArray(new String[0])));
        assertEquals(0, base.code(), base.err());
        Path overlapped = tmp.resolve("overlapped");
        extra.add("--overlap-grad-reduce");
        TrainFixtures.Run run = train(args(model, overlapped, extra.toArray(new String[0])));
        assertEquals(0, run.code(), run.err());
        assertEquals(losses(plain), losses(overlapped));
    }

    /**
     * --overlap-param-gather: the parameter all-gathers after the optimizer land in the model at each bucket's first
     * use in the next forward pass; the same values, so the same run bit for bit — and a checkpoint taken meanwhile
     * holds the updated parameters (resuming it continues the uninterrupted curve).
     */
    @ParameterizedTest(name = "{0} ZeRO-{1} {2}")
    @CsvSource(nullValues = "-", value = {"gpt2, 1, -", "llama, 2, --overlap-grad-reduce",
            "gpt2, 1, --world-size 4 --pipeline-model-parallel-size 2 --overlap-grad-reduce",
            "gpt2, 1, --world-size 4 --tensor-model-parallel-size 2 --sequence-parallel"})
    void overlappedParameterGatherChangesNoBit(String model, int zero, String layout) throws Exception {
        List<String> extra = new ArrayList<>(List.of("--world-size", "2"));
        if (layout != null) {
            extra.addAll(List.of(layout.split(" ")));
        }
        extra.addAll(List.of("--zero-stage", Integer.toString(zero), "--ddp-bucket-size", "3000"));
        Path plain = tmp.resolve("plain");
        TrainFixtures.Run base = train(args(model, plain, extra.toArray(new String[0])));
        assertEquals(0, base.code(), base.err());
        extra.add("--overlap-param-gather");
        Path overlapped = tmp.resolve("overlapped");
        TrainFixtures.Run run = train(args(model, overlapped, extra.toArray(new String[0])));
        assertEquals(0, run.code(), run.err());
        assertEquals(losses(plain), losses(overlapped));
        Path part = tmp.resolve("part");
        List<String> first = new ArrayList<>(extra);
        first.addAll(List.of("--exit-interval", "10"));
        assertEquals(0, train(args(model, part, first.toArray(new String[0]))).code());
        List<String> second = new ArrayList<>(extra);
        second.addAll(List.of("--load", part.toString()));
        TrainFixtures.Run resumed = train(args(model, part, second.toArray(new String[0])));
        assertEquals(0, resumed.code(), resumed.err());
        List<Double> whole = losses(overlapped);
        List<Double> pieces = losses(part);
        assertEquals(whole.size(), pieces.size());
        for (int i = 0; i < whole.size(); i++) {
            assertEquals(whole.get(i), pieces.get(i), 1e-5 * Math.abs(whole.get(i)), "iteration " + (i + 1));
        }
    }

    /**
     * --grad-reduce-in-bf16: the reduction sees bf16-rounded gradients and rounds its sums, so the curve leaves the
     * fp32 one by bf16 rounding only (and does leave it: the rounding is applied).
     */
    @ParameterizedTest(name = "{0} ZeRO-{1}")
    @CsvSource({"gpt2, 0", "gpt2, 1", "llama, 1"})
    void bf16GradientReductionStaysWithinBf16OfFp32(String model, int zero) throws Exception {
        Path fp32 = tmp.resolve("fp32");
        assertEquals(0, train(args(model, fp32, "--world-size", "2", "--zero-stage", Integer.toString(zero)))
                .code());
        Path bf16 = tmp.resolve("bf16");
        TrainFixtures.Run run = train(args(model, bf16, "--world-size", "2", "--zero-stage",
                Integer.toString(zero), "--grad-reduce-in-bf16", "--overlap-grad-reduce"));
        assertEquals(0, run.code(), run.err());
        List<Double> a = losses(fp32);
        List<Double> b = losses(bf16);
        assertEquals(a.size(), b.size());
        boolean differs = false;
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i), b.get(i), 0.02 * Math.abs(a.get(i)), "iteration " + (i + 1));
            differs |= !a.get(i).equals(b.get(i));
        }
        assertTrue(differs, "bf16 reduction produced exactly the fp32 curve: no rounding was applied");
    }

    /**
     * ZeRO-3 over 3 ranks: the hidden size 32 does not divide by 3, so parameters are padded to whole shards (gathered
     * into a padded buffer and copied out, reduce-scattered from a zero-padded copy), beside the unpadded ones that
     * are gathered straight into their own shape: the curve is the single rank's.
     */
    @Test
    void zero3WithPaddedShardsReproducesTheSingleRankRun() throws Exception {
        Path single = tmp.resolve("single6");
        assertEquals(0, train(args("gpt2", single, "--global-batch-size", "6")).code());
        Path z3 = tmp.resolve("z3w3");
        TrainFixtures.Run run = train(args("gpt2", z3, "--global-batch-size", "6", "--world-size", "3",
                "--zero-stage", "3"));
        assertEquals(0, run.code(), run.err());
        List<Double> a = losses(single);
        List<Double> b = losses(z3);
        assertEquals(20, b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i), b.get(i), 1e-5 * Math.abs(a.get(i)), "iteration " + (i + 1));
        }
    }

    @Test
    void gradientReductionFlagsAreCheckedBeforeTraining() throws IOException {
        TrainFixtures.Run z3 = train(args("gpt2", tmp.resolve("z3"), "--world-size", "2", "--zero-stage", "3",
                "--grad-reduce-in-bf16"));
        assertEquals(2, z3.code(), z3.out());
        assertTrue(z3.err().contains("--grad-reduce-in-bf16 applies to --zero-stage 0, 1 or 2"), z3.err());
        TrainFixtures.Run gather = train(args("gpt2", tmp.resolve("g"), "--world-size", "2",
                "--overlap-param-gather"));
        assertEquals(2, gather.code(), gather.out());
        assertTrue(gather.err().contains("--overlap-param-gather needs the distributed optimizer"), gather.err());
        TrainFixtures.Run bucket = train(args("gpt2", tmp.resolve("b"), "--world-size", "2", "--ddp-bucket-size",
                "0"));
        assertEquals(2, bucket.code(), bucket.out());
        assertTrue(bucket.err().contains("--ddp-bucket-size must be at least 1"), bucket.err());
    }

    /** The 20 losses of the run saved to {@code part} and resumed equal the uninterrupted run's in {@code whole}. */
    private static void assertResumedLossesMatch(Path whole, Path part) throws IOException {
        List<Double> a = losses(whole);
        List<Double> b = losses(part);
        assertEquals(20, b.size());
        for (int i = 0; i < 20; i++) {
            assertEquals(a.get(i), b.get(i), 1e-5 * Math.abs(a.get(i)), "iteration " + (i + 1));
        }
    }

    /**
     * ZeRO-3 saved and resumed by ZeRO-3 (the optimizer state is cut from whole tensors whose shapes come from the
     * layout: the model's own parameters are empty placeholders by then), and ZeRO-3's checkpoint resumed by ZeRO-1.
     */
    @ParameterizedTest(name = "resumed by ZeRO-{0}")
    @CsvSource({"3", "1"})
    void zero3CheckpointsResume(int resumedBy) throws Exception {
        Path whole = tmp.resolve("whole");
        assertEquals(0, train(args("gpt2", whole, "--world-size", "2", "--zero-stage", "3")).code());
        Path part = tmp.resolve("part");
        TrainFixtures.Run first = train(args("gpt2", part, "--world-size", "2", "--zero-stage", "3",
                "--exit-interval", "10"));
        assertEquals(0, first.code(), first.err());
        TrainFixtures.Run resumed = train(args("gpt2", part, "--world-size", "2", "--zero-stage",
                Integer.toString(resumedBy), "--load", part.toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertResumedLossesMatch(whole, part);
    }

    @Test
    void zeroCheckpointResumesAtAnotherDataParallelSize() throws Exception {
        // Saved by 2 ranks with ZeRO-1 (optimizer state sharded), resumed on 1 rank: the continued losses equal
        // the uninterrupted 2-rank run's.
        Path whole = tmp.resolve("whole");
        assertEquals(0, train(args("gpt2", whole, "--world-size", "2", "--zero-stage", "1")).code());
        Path part = tmp.resolve("part");
        TrainFixtures.Run first = train(args("gpt2", part, "--world-size", "2", "--zero-stage", "1",
                "--exit-interval", "10"));
        assertEquals(0, first.code(), first.err());
        TrainFixtures.Run resumed = train(args("gpt2", part, "--load", part.toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertResumedLossesMatch(whole, part);
    }

    @Test
    void zeroCheckpointsWithSizeOnlyBucketsStillResume() throws Exception {
        // Written before the embeddings and the first layer got buckets of their own (the checkpoint's layout says
        // firstLayersApart false), resumed by a run that lays its buckets out the new way: the optimizer shards are
        // read with the layout they were written in, and the continued losses equal the uninterrupted run's.
        Path whole = tmp.resolve("whole");
        assertEquals(0, train(args("gpt2", whole, "--world-size", "2", "--zero-stage", "1")).code());
        Path part = tmp.resolve("part");
        TrainFixtures.Run first;
        System.setProperty("lattice.zero.firstLayersApart", "false");
        try {
            first = train(args("gpt2", part, "--world-size", "2", "--zero-stage", "1", "--exit-interval", "10"));
        } finally {
            System.clearProperty("lattice.zero.firstLayersApart");
        }
        assertEquals(0, first.code(), first.err());
        String json = Files.readString(part.resolve("iter_0000010/state.json"));
        assertTrue(json.contains("\"firstLayersApart\": false"), json);
        TrainFixtures.Run resumed = train(args("gpt2", part, "--world-size", "2", "--zero-stage", "1",
                "--load", part.toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertResumedLossesMatch(whole, part);
    }

    @Test
    void zeroCheckpointsInTheProductWeightsLastOrderResumeEitherWay() throws Exception {
        // The bf16 parameter gather's flat order (-Dlattice.zero.bf16ParamGather, or productWeightsLast alone):
        // recorded in the checkpoint, read back in the order the shards were cut in, resumed by a run in the
        // model's order; and the other way round. The continued losses equal the uninterrupted run's.
        Path whole = tmp.resolve("whole");
        assertEquals(0, train(args("gpt2", whole, "--world-size", "2", "--zero-stage", "1")).code());
        for (boolean writtenReordered : new boolean[] {true, false}) {
            Path part = tmp.resolve("part-" + writtenReordered);
            TrainFixtures.Run first;
            // bf16ParamGather implies the order (the CPU backend keeps no roundings, so its gather stays fp32)
            System.setProperty("lattice.zero.bf16ParamGather", Boolean.toString(writtenReordered));
            try {
                first = train(args("gpt2", part, "--world-size", "2", "--zero-stage", "1", "--exit-interval", "10"));
            } finally {
                System.clearProperty("lattice.zero.bf16ParamGather");
            }
            assertEquals(writtenReordered, first.out().contains("0 of 3 buckets"), first.out());
            assertEquals(0, first.code(), first.err());
            String json = Files.readString(part.resolve("iter_0000010/state.json"));
            assertTrue(json.contains("\"productWeightsLast\": " + writtenReordered), json);
            TrainFixtures.Run resumed;
            System.setProperty("lattice.zero.productWeightsLast", Boolean.toString(!writtenReordered));
            try {
                resumed = train(args("gpt2", part, "--world-size", "2", "--zero-stage", "1", "--load",
                        part.toString()));
            } finally {
                System.clearProperty("lattice.zero.productWeightsLast");
            }
            assertEquals(0, resumed.code(), resumed.err());
            assertResumedLossesMatch(whole, part);
        }
    }

    /** Megatron's sequence parallelism on top of tensor parallelism (and with PP and ZeRO around it). */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"gpt2, --world-size 2 --tensor-model-parallel-size 2",
            "llama, --world-size 2 --tensor-model-parallel-size 2",
            "gpt2, --world-size 8 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --zero-stage 1"})
    void sequenceParallelReproducesTheSingleRankRun(String model, String layout) throws Exception {
        Path single = tmp.resolve("single");
        assertEquals(0, train(args(model, single)).code());
        Path sp = tmp.resolve("sp");
        List<String> a = args(model, sp, "--sequence-parallel");
        a.addAll(List.of(layout.split(" ")));
        TrainFixtures.Run run = train(a);
        assertEquals(0, run.code(), run.err());
        assertClose(losses(single), losses(sp));
    }

    /** Megatron's interleaved schedule: each pipeline rank runs two model chunks (virtual stages). */
    @ParameterizedTest(name = "{0} world={1} TP={2} PP={3} layers={4}")
    @CsvSource({"gpt2, 2, 1, 2, 4", "llama, 2, 1, 2, 4", "gpt2, 4, 2, 2, 4", "llama, 4, 1, 4, 8"})
    void interleavedPipelineReproducesTheSingleRankRun(String model, int world, int tp, int pp, int layers)
            throws Exception {
        Path single = tmp.resolve("single");
        assertEquals(0, train(args(model, single, "--num-layers", Integer.toString(layers))).code());
        Path inter = tmp.resolve("interleaved");
        TrainFixtures.Run run = train(args(model, inter, "--num-layers", Integer.toString(layers), "--world-size",
                Integer.toString(world), "--tensor-model-parallel-size", Integer.toString(tp),
                "--pipeline-model-parallel-size", Integer.toString(pp), "--num-layers-per-virtual-pipeline-stage",
                "1", "--global-batch-size", Integer.toString(2 * pp * 2)));
        assertEquals(0, run.code(), run.err());
        Path singleSameBatch = tmp.resolve("single-b");
        assertEquals(0, train(args(model, singleSameBatch, "--num-layers", Integer.toString(layers),
                "--global-batch-size", Integer.toString(2 * pp * 2))).code());
        assertClose(losses(singleSameBatch), losses(inter));
    }

    @Test
    void interleavingConstraintsAreCheckedBeforeTraining() throws IOException {
        TrainFixtures.Run run = train(args("gpt2", tmp.resolve("c"), "--num-layers", "6", "--world-size", "4",
                "--pipeline-model-parallel-size", "4", "--num-layers-per-virtual-pipeline-stage", "1",
                "--global-batch-size", "12", "--micro-batch-size", "2"));
        assertEquals(2, run.code(), run.out());
        assertTrue(run.err().contains("--num-layers 6 is not divisible by --pipeline-model-parallel-size 4"),
                run.err());
        TrainFixtures.Run m = train(args("gpt2", tmp.resolve("c2"), "--num-layers", "8", "--world-size", "4",
                "--pipeline-model-parallel-size", "4", "--num-layers-per-virtual-pipeline-stage", "1",
                "--global-batch-size", "12", "--micro-batch-size", "2"));
        assertEquals(2, m.code(), m.out());
        assertTrue(m.err().contains("M mod N must be 0 or >= PP"), m.err());
    }

    /**
     * A checkpoint saved by TP2×PP2×DP2 with ZeRO-1 resumes on one rank, and one saved on one rank resumes at
     * TP2×PP2×DP2: both continue the uninterrupted loss curve (checkpoints hold whole tensors; each layout cuts
     * its shards on load).
     */
    @Test
    void checkpointsReshardAcrossLayouts() throws Exception {
        String[] big = {"--world-size", "8", "--tensor-model-parallel-size", "2", "--pipeline-model-parallel-size",
                "2", "--zero-stage", "1"};
        Path whole = tmp.resolve("whole");
        assertEquals(0, train(args("llama", whole)).code());
        List<Double> reference = losses(whole);

        Path down = tmp.resolve("down");
        List<String> first = args("llama", down, "--exit-interval", "10");
        first.addAll(List.of(big));
        TrainFixtures.Run a = train(first);
        assertEquals(0, a.code(), a.err());
        // Sharded as Megatron shards: one directory per (tp, pp) rank, one ZeRO optimizer file per dp rank.
        Path iter = down.resolve("iter_0000010");
        for (String shard : List.of("mp_rank_00_000", "mp_rank_01_000", "mp_rank_00_001", "mp_rank_01_001")) {
            for (String file : List.of("model.safetensors", "optimizer_dp_000.safetensors",
                    "optimizer_dp_001.safetensors")) {
                assertTrue(Files.exists(iter.resolve(shard).resolve(file)), shard + "/" + file);
            }
        }
        assertTrue(Files.exists(iter.resolve("state.json")));
        assertTrue(Files.readString(iter.resolve("state.json")).contains("\"tp\": 2"));
        TrainFixtures.Run b = train(args("llama", down, "--load", down.toString()));
        assertEquals(0, b.code(), b.err());
        assertClose(reference, losses(down));

        Path up = tmp.resolve("up");
        assertEquals(0, train(args("llama", up, "--exit-interval", "10")).code());
        List<String> second = args("llama", up, "--load", up.toString());
        second.addAll(List.of(big));
        TrainFixtures.Run c = train(second);
        assertEquals(0, c.code(), c.err());
        assertClose(reference, losses(up));
    }

    /** Random delays before every send, receive and collective change neither the schedule's outcome nor results. */
    @Test
    void randomCommunicationDelaysNeitherDeadlockNorChangeResults() throws Exception {
        Path calm = tmp.resolve("calm");
        Path jittery = tmp.resolve("jittery");
        String[] layout = {"--world-size", "8", "--tensor-model-parallel-size", "2", "--pipeline-model-parallel-size",
                "2", "--zero-stage", "1", "--train-iters", "6"};
        List<String> a = args("gpt2", calm, layout);
        assertEquals(0, train(a).code());
        List<String> b = args("gpt2", jittery, layout);
        b.addAll(List.of("--comm-jitter-us", "400"));
        TrainFixtures.Run run = train(b);
        assertEquals(0, run.code(), run.err());
        assertEquals(losses(calm), losses(jittery), "rank-ordered reductions: bit-identical under any timing");
    }

    private static void assertClose(List<Double> want, List<Double> got) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i), got.get(i), 1e-5 * Math.abs(want.get(i)), "iteration " + (i + 1));
        }
    }

    @Test
    void layoutsThatDoNotDivideFailBeforeTraining() throws IOException {
        TrainFixtures.Run run = train(args("gpt2", tmp.resolve("bad"), "--world-size", "3"));
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--global-batch-size 8 is not a multiple of --micro-batch-size 2"
                + " × data-parallel size 3"), run.err());
        TrainFixtures.Run tp = train(args("gpt2", tmp.resolve("bad"), "--world-size", "3",
                "--tensor-model-parallel-size", "2"));
        assertEquals(2, tp.code());
        assertTrue(tp.err().contains("--world-size 3 is not divisible"), tp.err());
    }
}
