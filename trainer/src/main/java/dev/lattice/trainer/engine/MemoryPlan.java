package dev.lattice.trainer.engine;

import dev.lattice.parallel.pipeline.PipelineSchedules;
import dev.lattice.parallel.pipeline.PipelineStep;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.PipelineStage;
import dev.lattice.trainer.model.Recomputation;

import java.util.List;
import java.util.Locale;

/**
 * Bytes one rank holds for a model and layout, computed before anything runs (what {@code bin/lattice plan} prints):
 * parameters and gradients (its tensor-parallel shards of its pipeline stage), Adam's two moments (divided by the
 * data-parallel size under ZeRO ≥ 1), and activations: one set per micro-batch in flight, as many as the pipeline
 * schedule keeps alive at once. fp32 (4 bytes per element), except activations stored in bf16 (2 bytes; their
 * statistics 4) and, then, a bf16 copy of every weight a GEMM reads (counted with the parameters).
 */
public record MemoryPlan(long parameterBytes, long gradientBytes, long optimizerBytes, long activationBytes,
                         int microbatchesInFlight) {

    public long totalBytes() {
        return parameterBytes + gradientBytes + optimizerBytes + activationBytes;
    }

    /**
     * @param rank the global rank (its TP/PP/DP coordinates follow Megatron's order tp-cp-dp-pp)
     */
    public static MemoryPlan of(ModelConfig c, int world, int tp, int pp, int zero, int microBatch, int globalBatch,
                                int seq, Recomputation recompute, int chunks, int rank) {
        return of(c, world, tp, pp, zero, microBatch, globalBatch, seq, recompute, chunks, rank, false);
    }

    /** As above, with Megatron's sequence parallelism (norm regions hold 1/TP of the rows). */
    public static MemoryPlan of(ModelConfig c, int world, int tp, int pp, int zero, int microBatch, int globalBatch,
                                int seq, Recomputation recompute, int chunks, int rank, boolean sequenceParallel) {
        return of(c, world, tp, pp, zero, microBatch, globalBatch, seq, recompute, chunks, rank, sequenceParallel, 4);
    }

    /**
     * As above, with activations stored in {@code activationBytes} per element (2: bf16 on GPUs under --bf16); their
     * statistics (norm means and reciprocal deviations, log-sum-exps, losses) stay fp32.
     */
    public static MemoryPlan of(ModelConfig c, int world, int tp, int pp, int zero, int microBatch, int globalBatch,
                                int seq, Recomputation recompute, int chunks, int rank, boolean sequenceParallel,
                                int activationBytes) {
        int dp = world / (tp * pp);
        int ppRank = rank / (tp * dp);
        PipelineStage stage = pp > 1 ? StagePlacement.stageOf(c, pp, ppRank, chunks) : PipelineStage.whole(c);
        long params = 0;
        long gemmWeights = 0;
        long replicated = 0;
        java.util.List<Long> sizes = new java.util.ArrayList<>();
        for (ParameterLayout.Spec s : new ParameterLayout(c).specs()) {
            if (stage.holds(s.name(), c)) {
                long n = 1;
                for (int d : s.split().localShape(s.shape(), tp, s.name())) {
                    n *= d;
                }
                params += n;
                sizes.add(n);
                if (readByGemm(s, c, stage)) {
                    gemmWeights += n;
                }
                if (s.split() == dev.lattice.trainer.model.TpSplit.REPLICATED) {
                    replicated += n;
                }
            }
        }
        long optimizer = 2 * params;
        // under sequence parallelism the replicated gradients are also packed into one buffer for their TP sum
        long gradients = params + (sequenceParallel && tp > 1 ? replicated : 0);
        if (zero == 3) {
            // ZeRO-3: each parameter padded to the DP size and cut in equal shards; parameters and moments sharded
            long shard = 0;
            for (long n : sizes) {
                shard += (n + dp - 1) / dp;
            }
            params = shard;
            optimizer = 2 * shard;
        } else if (zero > 0) {
            // ZeRO: Adam's moments for this rank's shard of each bucket (buckets padded to the DP size)
            long[] arr = sizes.stream().mapToLong(Long::longValue).toArray();
            int dpRank = (rank / tp) % dp;
            optimizer = 2 * new dev.lattice.parallel.zero.ZeroLayout(arr, dp, DataParallelSync.DEFAULT_BUCKET_ELEMENTS)
                    .ownedElements(dpRank);
        }
        int m = globalBatch / (microBatch * dp);
        long acts = 0;
        int inFlight = 0;
        for (int k = 0; k < stage.chunks(); k++) {
            int live = pp > 1 ? peakLive(pp, ppRank, m, stage.chunks(), k) : 1;
            inFlight += live;
            long elements = activationElements(c, tp, microBatch, seq, stage.layers(k), recompute,
                    sequenceParallel && tp > 1);
            long stats = statisticElements(c, tp, microBatch, seq, stage.layers(k), recompute,
                    sequenceParallel && tp > 1);
            acts += live * ((long) activationBytes * (elements - stats) + 4 * stats);
        }
        if (stage.head()) { // the head's chunk buffers, shared by the micro-batches (GptModel.headWithGradient)
            long rows = (long) microBatch * seq;
            long r = Math.min(rows, dev.lattice.trainer.model.GptModel.headChunkRows());
            // the chunk's logits (this rank's vocabulary shard), its input and output rows when there is more than
            // one chunk, 2 statistics per row (3 under tensor parallelism: the target logit too)
            acts += (long) activationBytes * r * (c.paddedVocabSize() / tp + (rows > r ? 2L * c.hiddenSize() : 0))
                    + 4L * (tp > 1 ? 3 : 2) * r;
        }
        // under bf16 activations the weights GEMMs read keep a bf16 rounding beside the fp32 master (the CUDA
        // backend's keepBf16Copies); ZeRO-3 gathers its weights afresh each time and rounds them into scratch
        long rounded = activationBytes == 2 && zero != 3 ? 2 * gemmWeights : 0;
        return new MemoryPlan(4 * params + rounded, 4 * gradients, 4 * optimizer, acts, inFlight);
    }

    /** Whether a parameter is a GEMM operand on this stage: the layers' weights and the output layer's. */
    private static boolean readByGemm(ParameterLayout.Spec s, ModelConfig c, PipelineStage stage) {
        if (s.shape().length != 2 || s.name().equals(ParameterLayout.POSITION_EMBEDDINGS)) {
            return false;
        }
        return !s.name().equals(ParameterLayout.WORD_EMBEDDINGS) || c.tiedEmbeddings() && stage.head();
    }

    /** The most micro-batches of chunk {@code chunk} forwarded but not yet back-propagated at any point. */
    static int peakLive(int pp, int rank, int m, int chunks, int chunk) {
        List<PipelineStep> steps = PipelineSchedules.steps(pp, rank, m, chunks, pp, false);
        int live = 0;
        int peak = 0;
        for (PipelineStep s : steps) {
            if (s.chunk() != chunk) {
                continue;
            }
            live += s.isForward() ? 1 : -1;
            peak = Math.max(peak, live);
        }
        return peak;
    }

    /**
     * fp32 elements of one micro-batch's activations and backward scratch for a chunk of {@code layers} layers:
     * the residual stream at every layer boundary; per kept layer the norm outputs and statistics, QKV, attention
     * output and log-sum-exp, the MLP's pre-activation (and its activation under NONE), and the backward pass's
     * scratch. (The head works on chunks of rows, counted once per model in {@link #of}.)
     */
    static long activationElements(ModelConfig c, int tp, int mbs, int seq, int layers, Recomputation recompute,
                                   boolean sp) {
        long n = (long) mbs * seq;
        long nl = sp ? n / tp : n; // rows of the residual stream and norm regions on this rank
        long h = c.hiddenSize();
        long heads = c.numAttentionHeads() / tp;
        long hd = heads * c.headDim();
        long qkv = c.qkvSize() / tp;
        long fc1 = c.fc1Size() / tp;
        long ffn = c.ffnHiddenSize() / tp;
        long residual = (layers + 1) * nl * h;
        // local rows: ln1, resid2, ln2 (h each) + 4 norm statistics; full rows: the rest; with sequence parallelism
        // also full-row twins of ln1 and ln2
        // the MLP activation: each layer's own when kept (NONE), else one buffer the layers share
        boolean ownAct = recompute == Recomputation.NONE;
        long perLayer = nl * (3 * h + 4) + n * (qkv + hd + heads + fc1 + (ownAct ? ffn : 0)) + (sp ? 2 * n * h : 0);
        long kept = recompute == Recomputation.FULL ? Math.min(1, layers) : layers;
        // local: lnf, dlnf, dresid, dln and the layers' shared row-parallel output (h each) + 2 statistics; full:
        // 5 per-row values, the shared MLP activation, backward scratch; with sequence parallelism 6 full-row twins
        // (embedding, lnf, dlnf, dres, dln, the row-parallel output)
        long scratch = nl * (5 * h + 2) + n * (5 + qkv + hd + fc1 + (ownAct ? 1 : 2) * ffn) + (sp ? 6 * n * h : 0);
        return residual + kept * perLayer + scratch;
    }

    /**
     * The fp32 statistics among {@link #activationElements}: per kept layer four per local row (two norms' mean and
     * reciprocal deviation) and a log-sum-exp per row and head; the head's two per local row and five per row.
     */
    static long statisticElements(ModelConfig c, int tp, int mbs, int seq, int layers, Recomputation recompute,
                                  boolean sp) {
        long n = (long) mbs * seq;
        long nl = sp ? n / tp : n;
        long heads = c.numAttentionHeads() / tp;
        long kept = recompute == Recomputation.FULL ? Math.min(1, layers) : layers;
        return kept * (4 * nl + n * heads) + 2 * nl + 5 * n;
    }

    /** One line per category, in MB. */
    public String render(String who) {
        String sets = microbatchesInFlight >= 0 ? " (" + microbatchesInFlight + " micro-batch sets)" : "";
        return String.format(Locale.ROOT, " > memory %s: parameters %.2f MB | gradients %.2f MB | optimizer %.2f MB |"
                        + " activations %.2f MB%s | total %.2f MB", who, parameterBytes / 1e6,
                gradientBytes / 1e6, optimizerBytes / 1e6, activationBytes / 1e6, sets, totalBytes() / 1e6);
    }
}
