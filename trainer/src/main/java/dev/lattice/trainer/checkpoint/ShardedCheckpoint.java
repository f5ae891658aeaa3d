package dev.lattice.trainer.checkpoint;

import dev.lattice.parallel.zero.ZeroLayout;
import dev.lattice.trainer.io.Safetensors;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.PipelineStage;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a checkpoint written in any {@link CheckpointLayout} back into whole tensors: model shards gathered over
 * tensor-parallel ranks and pipeline stages, optimizer moments rebuilt from replicated files, ZeRO-1/2 flat shards
 * (per bucket, in DP-rank order) or ZeRO-3 per-parameter shards. What the loading run then cuts for its own layout
 * is independent of what wrote it — a universal checkpoint.
 */
public final class ShardedCheckpoint {

    /** Whole tensors of a checkpoint. */
    public record Full(CheckpointStore.Contents contents, Map<String, float[]> params, Map<String, float[]> m,
                       Map<String, float[]> v) {
    }

    /** The layer ranges of pipeline rank {@code r} (the same placement the trainer uses). */
    public interface StageFunction {
        PipelineStage stageOf(ModelConfig c, int pp, int r, int chunks);
    }

    private ShardedCheckpoint() {
    }

    static Full read(CheckpointStore store, String iterDir, CheckpointStore.Contents contents, CheckpointLayout l,
                     StageFunction stages, boolean withOptimizer) throws IOException {
        ModelConfig c = contents.config();
        ParameterLayout layout = new ParameterLayout(c);
        Map<String, float[]> params = new LinkedHashMap<>();
        Map<String, float[]> m = new LinkedHashMap<>();
        Map<String, float[]> v = new LinkedHashMap<>();
        for (int p = 0; p < l.pp(); p++) {
            PipelineStage stage = l.pp() == 1 ? PipelineStage.whole(c) : stages.stageOf(c, l.pp(), p, l.chunks());
            List<ParameterLayout.Spec> held = new ArrayList<>();
            for (ParameterLayout.Spec s : layout.specs()) {
                if (stage.holds(s.name(), c)) {
                    held.add(s);
                }
            }
            // per TP rank: local tensors of this stage
            List<Map<String, float[]>> localParams = new ArrayList<>();
            List<Map<String, float[]>> localM = new ArrayList<>();
            List<Map<String, float[]>> localV = new ArrayList<>();
            for (int t = 0; t < l.tp(); t++) {
                String shard = store.resolve(iterDir, CheckpointStore.shardDir(t, p, l.pp()));
                Map<String, float[]> mp = new LinkedHashMap<>();
                try (Safetensors st = store.openSafetensors(store.resolve(shard, CheckpointStore.MODEL))) {
                    for (ParameterLayout.Spec s : held) {
                        if (!stage.isTiedCopy(s.name())) {
                            mp.put(s.name(), store.tensor(st, s.name(), localShape(s, l.tp())));
                        }
                    }
                }
                localParams.add(mp);
                if (withOptimizer) {
                    Map<String, float[]>[] mv = readOptimizer(store, shard, held, l);
                    localM.add(mv[0]);
                    localV.add(mv[1]);
                }
            }
            for (ParameterLayout.Spec s : held) {
                if (stage.isTiedCopy(s.name())) {
                    continue;
                }
                params.put(s.name(), gather(s, localParams, l.tp()));
                if (withOptimizer) {
                    m.put(s.name(), gather(s, localM, l.tp()));
                    v.put(s.name(), gather(s, localV, l.tp()));
                }
            }
        }
        return new Full(contents, params, m, v);
    }

    private static int[] localShape(ParameterLayout.Spec s, int tp) {
        return s.split().localShape(s.shape(), tp, s.name());
    }

    private static float[] gather(ParameterLayout.Spec s, List<Map<String, float[]>> perTp, int tp) {
        float[][] shards = new float[tp][];
        for (int t = 0; t < tp; t++) {
            shards[t] = perTp.get(t).get(s.name());
        }
        return s.split().gather(shards, s.shape(), tp);
    }

    /** One (tp, pp) shard's moments as local tensors, from whichever ZeRO form they were written in. */
    @SuppressWarnings("unchecked")
    private static Map<String, float[]>[] readOptimizer(CheckpointStore store, String shard,
                                                        List<ParameterLayout.Spec> held, CheckpointLayout l)
            throws IOException {
        Map<String, float[]> m = new LinkedHashMap<>();
        Map<String, float[]> v = new LinkedHashMap<>();
        if (l.zero() == 1 || l.zero() == 2) { // the flat order the shards were cut in
            held = dev.lattice.trainer.engine.ZeroBuckets.ordered(held, l.productWeightsLast());
        }
        long[] sizes = new long[held.size()];
        for (int i = 0; i < sizes.length; i++) {
            long n = 1;
            for (int d : localShape(held.get(i), l.tp())) {
                n *= d;
            }
            sizes[i] = n;
        }
        if (l.zero() == 0) {
            try (Safetensors st = store.openSafetensors(store.resolve(shard, l.optimizerFile(0)))) {
                for (int i = 0; i < held.size(); i++) {
                    ParameterLayout.Spec s = held.get(i);
                    int[] shape = localShape(s, l.tp());
                    m.put(s.name(), store.tensor(st, "exp_avg." + s.name(), shape));
                    v.put(s.name(), store.tensor(st, "exp_avg_sq." + s.name(), shape));
                }
            }
        } else if (l.zero() == 3) {
            for (int i = 0; i < held.size(); i++) {
                m.put(held.get(i).name(), new float[Math.toIntExact(sizes[i])]);
                v.put(held.get(i).name(), new float[Math.toIntExact(sizes[i])]);
            }
            for (int r = 0; r < l.dp(); r++) {
                try (Safetensors st = store.openSafetensors(store.resolve(shard, l.optimizerFile(r)))) {
                    for (int i = 0; i < held.size(); i++) {
                        String name = held.get(i).name();
                        long len = (sizes[i] + l.dp() - 1) / l.dp();
                        copyShard(store.tensor(st, "exp_avg." + name, new int[] {(int) len}), m.get(name), r * len);
                        copyShard(store.tensor(st, "exp_avg_sq." + name, new int[] {(int) len}), v.get(name),
                                r * len);
                    }
                }
            }
        } else {
            ZeroLayout z = dev.lattice.trainer.engine.ZeroBuckets.layout(held, sizes, l.dp(), l.bucketElements(),
                    l.firstLayersApart(), l.productWeightsLast());
            float[] flatM = new float[Math.toIntExact(z.flatLength())];
            float[] flatV = new float[Math.toIntExact(z.flatLength())];
            for (int r = 0; r < l.dp(); r++) {
                int owned = Math.toIntExact(z.ownedElements(r));
                float[] sm;
                float[] sv;
                try (Safetensors st = store.openSafetensors(store.resolve(shard, l.optimizerFile(r)))) {
                    sm = store.tensor(st, CheckpointLayout.flatMomentName("exp_avg", l.productWeightsLast()),
                            new int[] {owned});
                    sv = store.tensor(st, CheckpointLayout.flatMomentName("exp_avg_sq", l.productWeightsLast()),
                            new int[] {owned});
                }
                long at = 0;
                for (int b = 0; b < z.buckets().size(); b++) {
                    long[] range = z.shard(b, r);
                    int len = Math.toIntExact(range[1] - range[0]);
                    System.arraycopy(sm, (int) at, flatM, (int) range[0], len);
                    System.arraycopy(sv, (int) at, flatV, (int) range[0], len);
                    at += len;
                }
            }
            for (int i = 0; i < held.size(); i++) {
                int off = Math.toIntExact(z.offset(i));
                int n = Math.toIntExact(sizes[i]);
                m.put(held.get(i).name(), java.util.Arrays.copyOfRange(flatM, off, off + n));
                v.put(held.get(i).name(), java.util.Arrays.copyOfRange(flatV, off, off + n));
            }
        }
        return new Map[] {m, v};
    }

    private static void copyShard(float[] shard, float[] into, long start) {
        int n = (int) Math.max(0, Math.min(shard.length, into.length - start));
        System.arraycopy(shard, 0, into, (int) start, n);
    }
}
