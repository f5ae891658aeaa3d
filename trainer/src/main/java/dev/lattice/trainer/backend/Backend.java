package dev.lattice.trainer.backend;

/**
 * The operations the models need, over tensors this backend owns. The CPU backend runs each call inline; the CUDA
 * backend enqueues it on its stream, so every call is asynchronous until {@link #toHost} or {@link #synchronize}.
 *
 * <p>Conventions: row-major; N = rows (tokens), C = columns; "accumulate" means {@code +=} into the output (as
 * llm.c's backward passes do, so gradients of shared inputs add up); other outputs are overwritten.
 */
public interface Backend extends AutoCloseable {

    String name();

    // ---- memory ----

    /** A zero-filled tensor. */
    Tensor zeros(int... shape);

    /**
     * A zero-filled tensor for activations and their gradients, which the backend may store in lower precision
     * (bf16 on GPUs under mixed precision; every operation still computes in fp32). fp32 by default.
     */
    default Tensor activations(int... shape) {
        return zeros(shape);
    }

    /** Bytes per element of {@link #activations} tensors (2 where they are stored in bf16): memory accounting. */
    default int activationBytes() {
        return 4;
    }

    /**
     * A zero-filled tensor of bf16 values (gradients reduced in bf16): stored in 2 bytes per element where the backend
     * can (CUDA); elsewhere fp32 storage whose values the caller keeps bf16-exact with {@link #castToBf16}, which is
     * then the rounding the 2-byte storage does on every write.
     */
    default Tensor bf16(int... shape) {
        return zeros(shape);
    }

    /** A tensor holding a copy of {@code data}. */
    Tensor fromHost(float[] data, int... shape);

    /**
     * The weights that matrix products will read many times: a backend that rounds fp32 operands for its products
     * (bf16 GEMMs) may keep each one's rounding between products, refreshed after every write through this backend.
     * Only a hint: the products' values are the same either way.
     */
    default void keepBf16Copies(java.util.List<Tensor> weights) {
    }

    /**
     * Moves each tensor's storage into {@code flat} at its offset, values kept: afterwards a write to one is a write
     * to the other (Megatron's contiguous gradient and parameter buffers, which data parallelism reduces and gathers
     * with no copies in between). Returns which tensors moved: the backend leaves a tensor where it is when it cannot
     * place it (the CPU backend's Java arrays: none; the CUDA backend: an offset its kernels' alignment forbids), and
     * the caller copies between those and {@code flat} as before.
     */
    default boolean[] placeInto(Tensor flat, java.util.List<Tensor> tensors, long[] offsets) {
        return new boolean[tensors.size()];
    }

    /**
     * Device memory as the backend's allocator sees it (bytes), for Megatron's memory report line; null where the
     * tensors live in the JVM heap (the CPU backend).
     */
    default DeviceMemory deviceMemory() {
        return null;
    }

    /** Bytes held by live tensors now and at most so far, and obtained from the device now and at most so far. */
    record DeviceMemory(long allocated, long maxAllocated, long reserved, long maxReserved) {

        /** Megatron's line: {@code [Rank r] (after n iterations) memory (MB) | allocated: … | max allocated: …}. */
        public String megatronLine(int rank, long iterations) {
            return String.format(java.util.Locale.ROOT, "[Rank %d] (after %d iterations) memory (MB) | allocated: %.1f"
                    + " | max allocated: %.1f | reserved: %.1f | max reserved: %.1f", rank, iterations,
                    allocated / 1048576.0, maxAllocated / 1048576.0, reserved / 1048576.0, maxReserved / 1048576.0);
        }
    }

    /**
     * Whether matrix products read kept bf16 roundings of their fp32 weights (never the fp32 values): what
     * {@link #placeRoundingsInto} needs. False for the CPU backend.
     */
    default boolean keepsRoundings() {
        return false;
    }

    /**
     * ZeRO's bf16 parameter all-gather: {@code flatBf16} is the bf16 twin of {@code flatParam}'s elements from
     * {@code flatStart} on. Keeps the bf16 roundings of {@code weights} (which live in {@code flatParam} at
     * {@code offsets}, at or past {@code flatStart}) there at the same offsets, and has AdamW's updates of
     * {@code flatParam}'s segments past {@code flatStart} write their roundings there. Then an all-gather of a range of
     * {@code flatBf16} refreshes the roundings in it ({@link #roundingsWrittenOutside}). Returns which weights moved:
     * none where the backend keeps no roundings ({@link #keepsRoundings}), and the caller gathers fp32 as before.
     */
    default boolean[] placeRoundingsInto(Tensor flatParam, long flatStart, Tensor flatBf16,
                                         java.util.List<Tensor> weights, long[] offsets) {
        return new boolean[weights.size()];
    }

    /**
     * A collective wrote these weights' kept roundings (placed by {@link #placeRoundingsInto}): they are current,
     * while parts of the fp32 weights may not be (only products read them until the next full gather).
     */
    default void roundingsWrittenOutside(java.util.Collection<Tensor> weights) {
        throw new UnsupportedOperationException("this backend keeps no roundings in flat buffers");
    }

    /** These tensors were written outside this backend (a collective into their storage): kept roundings are stale. */
    default void writtenOutside(java.util.Collection<Tensor> tensors) {
    }

    /**
     * {@code t} is dead: nothing uses it (or an alias of it) after the work enqueued so far, so its storage may serve
     * the next allocation now instead of when the garbage collector finds it unreachable. For tensors that come and
     * go by the gigabyte within a step (ZeRO-3's gathered parameters), where waiting for the collector makes the
     * device allocator call cudaMalloc again and again. The caller drops every reference to {@code t}.
     */
    default void recycle(Tensor t) {
    }

    /** Bytes the kept roundings of {@link #keepBf16Copies} hold now for these tensors (0 where none is kept). */
    default long bf16CopyBytes(java.util.Collection<Tensor> tensors) {
        return 0;
    }

    /** A copy of the tensor's contents on the host (waits for pending work). */
    float[] toHost(Tensor t);

    /** Overwrites the tensor with {@code data}. */
    void upload(Tensor t, float[] data);

    void fill(Tensor t, float value);

    void copy(Tensor dst, Tensor src);

    /** {@code dst[dstOff, dstOff+count) = src[srcOff, srcOff+count)} (flattening into and out of ZeRO buffers). */
    void copyRange(Tensor dst, long dstOff, Tensor src, long srcOff, long count);

    /** One {@link #copyRange} of {@link #copyRanges}. */
    record RangeCopy(Tensor dst, long dstOff, Tensor src, long srcOff, long count) {
    }

    /**
     * Every copy in order, exactly as {@link #copyRange} each (the default); GPUs do them in one launch (a ZeRO
     * step flattens and unflattens every parameter: hundreds of small copies).
     */
    default void copyRanges(java.util.List<RangeCopy> copies) {
        for (RangeCopy c : copies) {
            copyRange(c.dst(), c.dstOff(), c.src(), c.srcOff(), c.count());
        }
    }

    /** Every tensor set to zero, as {@link #fill}{@code (t, 0)} each (the default); GPUs do it in one launch. */
    default void fillZeros(java.util.List<Tensor> tensors) {
        for (Tensor t : tensors) {
            fill(t, 0f);
        }
    }

    /** Waits until every enqueued operation has finished. */
    void synchronize();

    // ---- linear algebra ----

    /**
     * {@code c = alpha · op(a) · op(b) + beta · c} with op(x) = x or xᵀ; a is m×k after op, b is k×n after op, c is
     * m×n; whole tensors viewed as row-major matrices.
     */
    void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, int m, int n, int k, float alpha,
                float beta);

    /**
     * {@code batch} independent products {@code c_i = alpha · op(a_i) · op(b_i) + beta · c_i}, where matrix i of each
     * tensor starts {@code i · stride} elements in (attention's per-head products, cuBLAS's strided batched GEMM).
     */
    void matmulStridedBatched(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, int m, int n, int k,
                              float alpha, float beta, int batch, long strideA, long strideB, long strideC);

    /**
     * {@code dst = src} rounded to bfloat16 precision (round to nearest even; NaN and ±Inf kept), still stored as
     * fp32: the cast mixed-precision training applies to weights and activations, reproduced exactly on the CPU.
     */
    void castToBf16(Tensor dst, Tensor src);

    /** {@code out[r, :] += bias} for every row. */
    void addBias(Tensor out, Tensor bias, int rows, int cols);

    /** {@code dbias += Σ_r dout[r, :]} (accumulate). */
    void biasBackward(Tensor dbias, Tensor dout, int rows, int cols);

    // ---- linear layers: a backend may fuse these (GEMM epilogues); the defaults compose the operations above ----

    /**
     * A linear layer: {@code out = inp · weightᵀ + bias}, OVERWRITTEN. inp [rows, inDim], weight [outDim, inDim],
     * bias [outDim] or null (no bias), out [rows, outDim].
     */
    default void linearForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int rows, int outDim, int inDim) {
        matmul(out, inp, false, weight, true, rows, outDim, inDim, 1f, 0f);
        if (bias != null) {
            addBias(out, bias, rows, outDim);
        }
    }

    /**
     * A linear layer followed by GPT-2's tanh GELU: {@code preGelu = inp · weightᵀ + bias} and
     * {@code out = gelu(preGelu)}, both [rows, outDim] and OVERWRITTEN (the backward pass needs preGelu). Shapes and
     * the nullable bias as in {@link #linearForward}.
     */
    default void linearGeluForward(Tensor out, Tensor preGelu, Tensor inp, Tensor weight, Tensor bias, int rows,
                                   int outDim, int inDim) {
        linearForward(preGelu, inp, weight, bias, rows, outDim, inDim);
        geluForward(out, preGelu);
    }

    /**
     * The parameter gradients of a linear layer: {@code dweight += doutᵀ · inp} and, when dbias is not null,
     * {@code dbias += Σ_r dout[r, :]}; both ACCUMULATED (micro-batches add up). dout [rows, outDim], inp [rows,
     * inDim], dweight [outDim, inDim], dbias [outDim].
     */
    default void linearWeightBackward(Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, int rows, int outDim,
                                      int inDim) {
        linearWeightBackward(dweight, dbias, dout, inp, rows, outDim, inDim, true);
    }

    /**
     * {@link #linearWeightBackward(Tensor, Tensor, Tensor, Tensor, int, int, int)} where {@code accumulateWeight}
     * false OVERWRITES dweight ({@code dweight = doutᵀ · inp}, its old contents not read, as a GEMM with beta 0: the
     * first write of a gradient the model did not zero). dbias, when not null, always accumulates.
     */
    default void linearWeightBackward(Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, int rows, int outDim,
                                      int inDim, boolean accumulateWeight) {
        matmul(dweight, dout, true, inp, false, outDim, inDim, rows, 1f, accumulateWeight ? 1f : 0f);
        if (dbias != null) {
            biasBackward(dbias, dout, rows, outDim);
        }
    }

    /**
     * The input gradient of a linear layer whose input was {@code gelu(preGelu)}, taken back through the GELU:
     * {@code dpreGelu = gelu'(preGelu) ⊙ (dout · weight)}, OVERWRITTEN. dout [rows, outDim], weight [outDim, inDim],
     * preGelu and dpreGelu [rows, inDim]. {@code dact} [rows, inDim] is scratch for backends that do not fuse (the
     * composition puts {@code dout · weight} there); its contents afterwards are unspecified.
     */
    default void linearBackwardThroughGelu(Tensor dpreGelu, Tensor dact, Tensor preGelu, Tensor dout, Tensor weight,
                                           int rows, int outDim, int inDim) {
        matmul(dact, dout, false, weight, false, rows, inDim, outDim, 1f, 0f);
        fill(dpreGelu, 0f);
        geluBackward(dpreGelu, preGelu, dact);
    }

    /** {@code out = a + b} elementwise. */
    void add(Tensor out, Tensor a, Tensor b);

    /** {@code y += x} elementwise. */
    void accumulate(Tensor y, Tensor x);

    /** {@code x *= s} elementwise. */
    void scale(Tensor x, float s);

    /** Σ x² in double precision, in a fixed order (global gradient norm). */
    double sumOfSquares(Tensor x);

    /**
     * Σ x² of each tensor, each exactly as {@link #sumOfSquares(Tensor)} computes it: one wait for a whole model's
     * gradients instead of one per tensor on the GPU.
     */
    default double[] sumsOfSquares(java.util.List<Tensor> xs) {
        long[] offsets = new long[xs.size()];
        long[] counts = new long[xs.size()];
        for (int i = 0; i < counts.length; i++) {
            counts[i] = xs.get(i).numel();
        }
        return sumsOfSquares(xs, offsets, counts);
    }

    /** Σ x² over {@code xs[i][offsets[i], offsets[i]+counts[i])} for each i, each as the single-range call does. */
    default double[] sumsOfSquares(java.util.List<Tensor> xs, long[] offsets, long[] counts) {
        double[] out = new double[xs.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = sumOfSquares(xs.get(i), offsets[i], counts[i]);
        }
        return out;
    }

    /**
     * The sums of squares of {@link #sumsOfSquares(java.util.List, long[], long[])} added in double in list order
     * (from 0), written into {@code pair[0, 2)} as {@link dev.lattice.parallel.comm.Collectives#pair}'s float pair:
     * a data-parallel group can gather the pairs where they lie instead of a trip through the host and back. The
     * GPU does not wait for it.
     */
    default void sumOfSquaresAsPair(java.util.List<Tensor> xs, long[] offsets, long[] counts, Tensor pair) {
        double total = 0;
        for (double s : sumsOfSquares(xs, offsets, counts)) {
            total += s;
        }
        upload(pair, dev.lattice.parallel.comm.Collectives.pair(total));
    }

    /** Σ x² over {@code x[off, off+count)}. */
    double sumOfSquares(Tensor x, long off, long count);

    /** {@code x[off, off+count) *= s}. */
    void scale(Tensor x, long off, long count, float s);

    /** Whether any element is NaN or infinite. */
    boolean hasNonFinite(Tensor x);

    // ---- layers ----

    /** {@code out[b,t] = wte[tokens[b,t]] + wpe[t]} (wpe may be null). */
    void embeddingForward(Tensor out, int[] tokens, Tensor wte, Tensor wpe, int batch, int seq, int channels);

    /** Accumulates into dwte (and dwpe if not null). */
    void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int batch, int seq, int channels);

    // ---- vocabulary-parallel pieces (tensor parallelism); the caller all-reduces the partial results ----

    /** out[n] = wte[tokens[n] − start] for tokens in this shard of {@code count} rows, else 0. */
    void vocabParallelEmbedding(Tensor out, int[] tokens, Tensor wteShard, int start, int count, int rows,
                                int channels);

    /** Accumulates dwteShard for the tokens in this shard. */
    void vocabParallelEmbeddingBackward(Tensor dwteShard, Tensor dout, int[] tokens, int start, int count, int rows,
                                        int channels);

    /** x[b, t] += wpe[t]. */
    void addPositionEmbedding(Tensor x, Tensor wpe, int batch, int seq, int channels);

    /** Accumulates dwpe[t] += Σ_b dout[b, t]. */
    void addPositionEmbeddingBackward(Tensor dwpe, Tensor dout, int batch, int seq, int channels);

    /** Row maxima [N] of the first {@code valid} columns of a logits shard. */
    void logitsRowMax(Tensor max, Tensor logits, int rows, int cols, int valid);

    /** Row sums [N] of exp(logit − max). */
    void logitsRowSumExp(Tensor sum, Tensor logits, Tensor max, int rows, int cols, int valid);

    /** The target's logit per row when it falls in this shard, else 0. */
    void logitsTarget(Tensor out, Tensor logits, int[] targets, int start, int rows, int cols, int valid);

    /** Cross-entropy gradient of a logits shard from the global log-sum-exp; WRITTEN. */
    void vocabParallelCrossEntropyBackward(Tensor dlogits, Tensor logits, Tensor lse, int[] targets, float[] dlosses,
                                           int start, int rows, int cols, int valid);

    /** LayerNorm; saves mean and rstd [N]. */
    void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias, int rows,
                          int cols, float eps);

    /** Accumulates dinp, dweight, dbias. */
    void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                           Tensor mean, Tensor rstd, int rows, int cols);

    /** RMSNorm (HF Llama); saves rstd [N]. */
    void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, int rows, int cols, float eps);

    /**
     * The residual add and the norm after it: {@code resid = x + delta} (stored in resid's precision), then
     * {@link #layerNormForward} of resid ({@code bias} non-null) or {@link #rmsNormForward} ({@code mean} and
     * {@code bias} null). Exactly those two operations, which is the default; GPUs do both in one pass.
     */
    default void addNormForward(Tensor resid, Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor delta,
                                Tensor weight, Tensor bias, int rows, int cols, float eps) {
        add(resid, x, delta);
        if (bias != null) {
            layerNormForward(out, mean, rstd, resid, weight, bias, rows, cols, eps);
        } else {
            rmsNormForward(out, rstd, resid, weight, rows, cols, eps);
        }
    }

    /** Accumulates dinp and dweight. */
    void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd, int rows,
                         int cols);

    /** GPT-2's tanh GELU. */
    void geluForward(Tensor out, Tensor inp);

    /** Accumulates dinp. */
    void geluBackward(Tensor dinp, Tensor inp, Tensor dout);

    /** inp [N, 2F] = [gate | up] → out [N, F] = silu(gate)·up. */
    void swigluForward(Tensor out, Tensor inp, int rows, int ffn);

    /** Writes dinp [N, 2F]. */
    void swigluBackward(Tensor dinp, Tensor inp, Tensor dout, int rows, int ffn);

    /** Rotates the q and k heads of a fused, grouped QKV buffer [B, T, (H+2G)d] in place (HF rotate_half). */
    void ropeForward(Tensor qkv, int batch, int seq, int heads, int groups, int headDim, float theta);

    /** The inverse rotation on dqkv, in place. */
    void ropeBackward(Tensor dqkv, int batch, int seq, int heads, int groups, int headDim, float theta);

    /** Causal GQA attention from the fused QKV buffer to out [B, T, H·d]; saves log-sum-exp [B·H·T]. */
    void attentionForward(Tensor out, Tensor lse, Tensor qkv, int batch, int seq, int heads, int groups,
                          int headDim);

    /** Writes dqkv. */
    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int batch, int seq,
                           int heads, int groups, int headDim);

    /**
     * Per-row losses [N] of logits [N, Vp] against targets; columns ≥ vocab are masked out. Saves each row's
     * log-sum-exp [N] so the backward pass needs one exp per logit, not a second softmax.
     */
    void crossEntropyForward(Tensor losses, Tensor lse, Tensor logits, int[] targets, int rows, int vocab,
                             int paddedVocab);

    /** Writes dlogits = (softmax − onehot)·dlosses[row]; padding columns get 0. */
    void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor lse, int[] targets, float[] dlosses, int rows,
                              int vocab, int paddedVocab);

    /**
     * {@link #crossEntropyForward}, then {@link #crossEntropyBackward} writing the gradient over {@code logits} (the
     * default is exactly those two calls); a GPU does both while each row is in cache (one read of the logits from
     * memory instead of two).
     */
    default void crossEntropyForwardBackward(Tensor losses, Tensor lse, Tensor logits, int[] targets, float[] dlosses,
                                             int rows, int vocab, int paddedVocab) {
        crossEntropyForward(losses, lse, logits, targets, rows, vocab, paddedVocab);
        crossEntropyBackward(logits, logits, lse, targets, dlosses, rows, vocab, paddedVocab);
    }

    /**
     * One torch.optim.AdamW step (decoupled weight decay) on a parameter with its moments; hyperparameters are
     * doubles as torch's Python floats are, so the bias corrections match.
     */
    void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
               double weightDecay, long step);

    /**
     * AdamW on elements [off, off+count) of flat buffers (a ZeRO shard segment); same formula as
     * {@link #adamW(Tensor, Tensor, Tensor, Tensor, double, double, double, double, double, long)}.
     */
    void adamW(Tensor param, long paramOff, Tensor grad, long gradOff, Tensor m, Tensor v, long stateOff, long count,
               double lr, double beta1, double beta2, double eps, double weightDecay, long step);

    /** One range AdamW updates: {@code count} elements of each buffer from its offset, with its weight decay. */
    record AdamWSegment(Tensor param, long paramOff, Tensor grad, long gradOff, Tensor m, Tensor v, long stateOff,
                        long count, double weightDecay) {
    }

    /**
     * AdamW on every segment with its gradient multiplied by {@code gradScale} (clipping; skipped when it is 1): the
     * parameters and moments of {@link #scale(Tensor, long, long, float)} then
     * {@link #adamW(Tensor, long, Tensor, long, Tensor, Tensor, long, long, double, double, double, double, double,
     * long)} per segment, which is the default. The gradients' contents afterwards are unspecified (the default
     * leaves them scaled, GPUs as they were: writing them back was a seventh of the update's memory traffic). GPUs do
     * all segments in one launch (148 tensors of GPT-2 are 148 launches otherwise).
     */
    default void adamW(java.util.List<AdamWSegment> segments, float gradScale, double lr, double beta1, double beta2,
                       double eps, long step) {
        for (AdamWSegment s : segments) {
            if (gradScale != 1f) {
                scale(s.grad(), s.gradOff(), s.count(), gradScale);
            }
            adamW(s.param(), s.paramOff(), s.grad(), s.gradOff(), s.m(), s.v(), s.stateOff(), s.count(), lr, beta1,
                    beta2, eps, s.weightDecay(), step);
        }
    }

    @Override
    void close();
}
