package dev.lattice.trainer.cli;

import dev.lattice.trainer.engine.MemoryPlan;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.Recomputation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.lattice.trainer.cli.TrainFixtures.baseArgs;
import static dev.lattice.trainer.cli.TrainFixtures.train;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The plan (computed from the config) against the bytes a run actually allocated, rank by rank. */
class MemoryPlanTest {

    @TempDir
    Path tmp;

    private static final Pattern LINE = Pattern.compile("memory of rank (\\d+) \\((measured|plan)\\): parameters"
            + " ([0-9.]+) MB \\| gradients ([0-9.]+) MB \\| optimizer ([0-9.]+) MB \\| activations ([0-9.]+) MB");

    @ParameterizedTest
    @ValueSource(strings = {
        "--world-size 1",
        "--world-size 1 --recompute-activations",
        "--world-size 1 --recompute-granularity full",
        "--world-size 4 --tensor-model-parallel-size 2 --zero-stage 1",
        "--world-size 2 --pipeline-model-parallel-size 2 --num-layers 4",
        "--world-size 2 --pipeline-model-parallel-size 2 --num-layers 4 --num-layers-per-virtual-pipeline-stage 1",
        "--world-size 8 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --zero-stage 1",
        "--world-size 2 --tensor-model-parallel-size 2 --sequence-parallel",
        // wide enough that sequence parallelism's packed buffer of the replicated gradients (5 x 512 floats) shows
        "--world-size 2 --tensor-model-parallel-size 2 --sequence-parallel --hidden-size 512 --num-attention-heads 8"
            + " --ffn-hidden-size 1024",
        "--world-size 2 --zero-stage 3"})
    void measuredBytesEqualThePlan(String layout) throws IOException {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String data = TrainFixtures.corpus(tmp.resolve("data"), tok, 200, 1);
        List<String> a = new ArrayList<>(baseArgs("llama", tok, data));
        a.addAll(List.of("--global-batch-size", "8", "--train-iters", "2", "--eval-iters", "0"));
        a.addAll(List.of(layout.split(" ")));
        TrainFixtures.Run run = train(a);
        assertEquals(0, run.code(), run.err());
        // every reporting rank (data-parallel rank 0 of each model-parallel position): its measured and its plan
        Matcher m = LINE.matcher(run.out());
        java.util.Map<String, java.util.Map<String, List<String>>> byRank = new java.util.TreeMap<>();
        while (m.find()) {
            byRank.computeIfAbsent(m.group(1), r -> new java.util.HashMap<>())
                    .put(m.group(2), List.of(m.group(3), m.group(4), m.group(5), m.group(6)));
        }
        java.util.regex.Matcher world = Pattern.compile("world (\\d+) = TP (\\d+) × CP \\d+ × DP (\\d+) × PP (\\d+)")
                .matcher(run.out());
        int positions = 1;
        int dp = 1;
        if (world.find()) {
            positions = Integer.parseInt(world.group(2)) * Integer.parseInt(world.group(4));
            dp = Integer.parseInt(world.group(3));
        }
        // and the last rank, which logs (its data-parallel rank is the last one)
        assertEquals(positions + (dp > 1 ? 1 : 0), byRank.size(), "one report per model-parallel position:\n"
                + run.out());
        byRank.forEach((rank, lines) -> assertEquals(lines.get("plan"), lines.get("measured"),
                "rank " + rank + " of " + layout + ":\n" + run.out()));
    }

    /**
     * bf16 activation storage (--bf16 on GPUs): the plan at 2 bytes per activation element, with the statistics at 4,
     * equals what the model counts when its backend stores activations in 2 bytes — here the CPU backend behind a
     * proxy that says so — for GPT-2 and Llama, with and without recomputation.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama", "gpt2 selective", "gpt2 full", "llama selective"})
    void bf16ActivationStorageIsPlannedAsTheModelCountsIt(String variant) {
        Recomputation recompute = variant.endsWith("full") ? Recomputation.FULL
                : variant.endsWith("selective") ? Recomputation.SELECTIVE : Recomputation.NONE;
        ModelConfig c = variant.startsWith("gpt2") ? ModelConfig.gpt2(32, 3, 4, 101, 16).withPaddedVocab(104)
                : ModelConfig.llama(32, 3, 4, 2, 48, 101, 16).withPaddedVocab(104);
        dev.lattice.trainer.backend.cpu.CpuBackend cpu = new dev.lattice.trainer.backend.cpu.CpuBackend();
        // the weights the model asks to keep rounded, and those of them that products read
        java.util.Set<Object> kept = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        java.util.Set<Object> multiplied = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        dev.lattice.trainer.backend.Backend twoBytes = (dev.lattice.trainer.backend.Backend)
                java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                        new Class<?>[] {dev.lattice.trainer.backend.Backend.class}, (proxy, m, args) -> {
                            if (m.getName().equals("activationBytes")) {
                                return 2;
                            }
                            if (m.getName().equals("keepBf16Copies")) {
                                kept.addAll((java.util.List<?>) args[0]);
                            }
                            if (m.getName().startsWith("matmul") || m.getName().startsWith("linear")) {
                                for (Object a : args) {
                                    if (kept.contains(a)) {
                                        multiplied.add(a);
                                    }
                                }
                            }
                            return m.invoke(cpu, args);
                        });
        try (dev.lattice.trainer.model.GptModel model = new dev.lattice.trainer.model.GptModel(c, twoBytes,
                recompute)) {
            model.initialize(1, 0.02);
            int[] ids = new java.util.Random(3).ints(2 * 16, 0, 101).toArray();
            float[] mask = new float[ids.length];
            java.util.Arrays.fill(mask, 1f);
            float[] w = new float[ids.length];
            java.util.Arrays.fill(w, 1f / ids.length);
            model.forward(new dev.lattice.trainer.model.Batch(ids, ids, mask, 2, 16), w); // as training runs it
            model.backward(w);
            MemoryPlan plan = MemoryPlan.of(c, 1, 1, 1, 0, 2, 2, 16, recompute, 1, 0, false, 2);
            MemoryPlan fp32 = MemoryPlan.of(c, 1, 1, 1, 0, 2, 2, 16, recompute, 1, 0, false, 4);
            assertEquals(plan.activationBytes(), model.activationBytes());
            long roundedBytes = 2 * multiplied.stream()
                    .mapToLong(t -> ((dev.lattice.trainer.backend.Tensor) t).numel()).sum();
            assertTrue(roundedBytes > 0 && multiplied.size() == 4 * 3 + 1, "every layer's 4 weights and the head's");
            assertEquals(roundedBytes, plan.parameterBytes() - fp32.parameterBytes(),
                    "the bf16 copies of the weights that GEMMs read");
            assertTrue(plan.activationBytes() > fp32.activationBytes() / 2
                    && plan.activationBytes() < 0.6 * fp32.activationBytes(), "about half, statistics at 4 bytes");
        }
    }

    @Test
    void zeroShardsTheOptimizerStateByTheDataParallelSize() {
        ModelConfig c = ModelConfig.gpt2(256, 4, 8, 50257, 128);
        MemoryPlan one = MemoryPlan.of(c, 1, 1, 1, 0, 4, 16, 128, Recomputation.NONE, 1, 0);
        MemoryPlan four = MemoryPlan.of(c, 4, 1, 1, 1, 4, 16, 128, Recomputation.NONE, 1, 0);
        assertEquals(one.parameterBytes(), four.parameterBytes());
        assertEquals(one.optimizerBytes() / 4.0, four.optimizerBytes(), 64, "ZeRO-1 optimizer ≈ 1/DP");
        MemoryPlan zero3 = MemoryPlan.of(c, 4, 1, 1, 3, 4, 16, 128, Recomputation.NONE, 1, 0);
        assertEquals(one.parameterBytes() / 4.0, zero3.parameterBytes(), 4 * 64, "ZeRO-3 parameters ≈ 1/DP");
        assertEquals(one.optimizerBytes() / 4.0, zero3.optimizerBytes(), 8 * 64);
        MemoryPlan tp = MemoryPlan.of(c, 2, 2, 1, 0, 4, 16, 128, Recomputation.NONE, 1, 0);
        assertTrue(tp.parameterBytes() < 0.55 * one.parameterBytes(), "TP2 halves the sharded parameters");
        MemoryPlan pp = MemoryPlan.of(c, 4, 1, 4, 0, 4, 16, 128, Recomputation.NONE, 1, 0);
        assertEquals(4, pp.microbatchesInFlight(), "the first 1F1B stage keeps PP micro-batches alive");
        MemoryPlan ppLast = MemoryPlan.of(c, 4, 1, 4, 0, 4, 16, 128, Recomputation.NONE, 1, 3);
        assertEquals(1, ppLast.microbatchesInFlight());
    }

    @Test
    void planCommandPrintsEveryStage() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = PlanCommand.execute(new String[] {"--num-layers", "8", "--hidden-size", "512",
                "--num-attention-heads", "8", "--seq-length", "256", "--micro-batch-size", "2",
                "--global-batch-size", "16", "--world-size", "8", "--tensor-model-parallel-size", "2",
                "--pipeline-model-parallel-size", "2", "--zero-stage", "1"},
                new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        assertEquals(0, code);
        String s = out.toString(StandardCharsets.UTF_8);
        assertTrue(s.contains("(pipeline stage 0)") && s.contains("(pipeline stage 1)"), s);
    }
}
