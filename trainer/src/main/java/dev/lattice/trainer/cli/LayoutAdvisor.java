package dev.lattice.trainer.cli;

import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.engine.MemoryPlan;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.Recomputation;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The layout {@code lattice plan --recommend} proposes for a model on N GPUs, by the usual rules of thumb: as little
 * model parallelism as fits (the rest is data parallelism with ZeRO-1, the distributed optimizer); tensor
 * parallelism first and only within a node (it communicates every layer), pipeline parallelism across nodes; full
 * activation recomputation only when needed; sequence parallelism whenever TP > 1. "Fits" means the largest
 * pipeline stage's plan ({@link MemoryPlan}, Lattice's own accounting) stays under 90 % of the GPU's memory.
 */
public final class LayoutAdvisor {

    /** The share of a GPU's memory a plan may use (the rest: CUDA context, allocator slack, NCCL buffers). */
    public static final double HEADROOM = 0.9;

    private LayoutAdvisor() {
    }

    /** The largest per-rank total over the pipeline stages, in bytes. */
    public static long peakBytes(ModelConfig c, Topology t, int zero, int microBatch, int globalBatch, int seq,
                                 Recomputation recompute, boolean sequenceParallel, int activationBytes) {
        long peak = 0;
        for (int pp = 0; pp < t.pp(); pp++) {
            int rank = t.rankOf(0, 0, 0, pp);
            peak = Math.max(peak, MemoryPlan.of(c, t.world(), t.tp(), t.pp(), zero, microBatch, globalBatch, seq,
                    recompute, 1, rank, sequenceParallel, activationBytes).totalBytes());
        }
        return peak;
    }

    /** The presets' recommendation: activations counted at 4 bytes (what a run without --bf16 stores). */
    public static Optional<Presets.Layout> recommend(ModelConfig c, int gpus, int gpusPerNode, double gpuMemoryGb,
                                                     int microBatch, int globalBatch, int seq) {
        return recommend(c, gpus, gpusPerNode, gpuMemoryGb, microBatch, globalBatch, seq, 4);
    }

    /** @param activationBytes 2 when the run stores activations in bf16 (--bf16 on GPUs), else 4 */
    public static Optional<Presets.Layout> recommend(ModelConfig c, int gpus, int gpusPerNode, double gpuMemoryGb,
                                                     int microBatch, int globalBatch, int seq, int activationBytes) {
        List<int[]> candidates = new ArrayList<>(); // {tp, pp}
        for (int tp = 1; tp <= Math.min(gpusPerNode, gpus); tp *= 2) {
            if (c.numAttentionHeads() % tp != 0 || c.numQueryGroups() % tp != 0 || c.ffnHiddenSize() % tp != 0) {
                continue;
            }
            for (int pp = 1; pp <= c.numLayers() && tp * pp <= gpus; pp++) {
                if (c.numLayers() % pp != 0 || gpus % (tp * pp) != 0) {
                    continue;
                }
                int dp = gpus / (tp * pp);
                if (globalBatch % (microBatch * dp) != 0) {
                    continue;
                }
                candidates.add(new int[] {tp, pp});
            }
        }
        candidates.sort(Comparator.<int[]>comparingInt(a -> a[0] * a[1]).thenComparingInt(a -> a[1]));
        double budget = gpuMemoryGb * 1e9 * HEADROOM;
        for (int[] cand : candidates) {
            int tp = cand[0];
            int pp = cand[1];
            int dp = gpus / (tp * pp);
            int zero = dp > 1 ? 1 : 0;
            boolean sp = tp > 1;
            for (Recomputation recompute : Recomputation.values()) { // the fastest that fits
                Topology t = new Topology(gpus, tp, 1, pp);
                long bytes = peakBytes(c, t, zero, microBatch, globalBatch, seq, recompute, sp, activationBytes);
                if (bytes <= budget) {
                    return Optional.of(new Presets.Layout(tp, pp, dp, zero, recompute, sp,
                            Math.round(bytes / 1e8) / 10.0));
                }
            }
        }
        return Optional.empty();
    }
}
