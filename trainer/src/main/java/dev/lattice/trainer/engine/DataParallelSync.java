package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.zero.ZeroLayout;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.optim.AdamW;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Data parallelism over a DP communicator.
 * <ul>
 *   <li>ZeRO 0: gradients all-reduced in flat buckets; every rank keeps the full optimizer state and steps it.</li>
 *   <li>ZeRO 1 and 2: gradients reduce-scattered per bucket, so each rank receives the summed gradients of its
 *       shard only; it keeps Adam's moments for that shard, updates those parameters, and the updated parameters are
 *       all-gathered. (ZeRO 2 differs from 1 in when full gradients are freed; with this engine's full gradient
 *       accumulators the arithmetic, and the result, is the same.)</li>
 * </ul>
 * The global gradient norm sums the squares of each rank's shard (or, for ZeRO 0, is computed once on the reduced
 * gradients), so clipping agrees on every rank.
 */
public final class DataParallelSync implements GradientSync, GptModel.ParameterHooks {

    /**
     * How the reduction and the parameter gather run.
     *
     * @param bucketElements elements per bucket ({@code --ddp-bucket-size})
     * @param reduceInBf16 Megatron's {@code --grad-reduce-in-bf16}: the (fp32-accumulated) gradients are rounded to
     *     bf16 for the reduction, halving its traffic; the reduced shard goes back to fp32 for clipping and Adam
     * @param overlapGradReduce Megatron's {@code --overlap-grad-reduce}: buckets are reduced during the backward pass
     *     as their gradients become final ({@link #beginBackward}, {@link #gradientsAccumulated}); the model reports
     *     gradients that are summed after the backward passes (sequence parallelism, tied embeddings across pipeline
     *     stages) once they are; under fp16 the scaled gradients travel and the step unscales the reduced ones
     * @param overlapParamGather Megatron's {@code --overlap-param-gather} (ZeRO ≥ 1): the updated parameters'
     *     all-gathers start after the optimizer step and each bucket is waited for and copied into the model only
     *     when the next forward pass first uses one of its parameters (this sync is the model's parameter hook)
     */
    public record Options(long bucketElements, boolean reduceInBf16, boolean overlapGradReduce,
                          boolean overlapParamGather) {

        public static Options defaults() {
            return new Options(DEFAULT_BUCKET_ELEMENTS, false, false, false);
        }
    }

    /** Megatron's default bucket size is 40 M elements; smaller buckets keep test buffers small. */
    public static final long DEFAULT_BUCKET_ELEMENTS = 40_000_000L;

    private final Communicator dp;
    private final int zeroStage;
    private final Backend be;
    private final List<ParameterLayout.Spec> specs;
    private final ZeroLayout layout;
    private final GptModel model; // its gradient and parameter tensors are the same every step
    private final Tensor flatParam;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    // ZeRO 0: the replicated optimizer; ZeRO >= 1: moments of the owned shards, one flat tensor each
    private final AdamW replicated;
    private final Tensor shardGrad;
    private final Tensor m;
    private final Tensor v;
    private final long[] shardOffsets;
    private int steps;
    private final long bucketElements;
    // What travels: the flat fp32 gradients, or bf16 ones under --grad-reduce-in-bf16 (reduced into a bf16 shard)
    private final boolean reduceInBf16;
    private final Tensor commGrad;
    private final Tensor commShard;
    // --overlap-grad-reduce: a bucket's reduction starts once every backward pass of the step is done with its
    // parameters (counted down per bucket), while the rest of the backward pass goes on
    private final boolean overlap;
    private final Map<String, Integer> paramIndex = new java.util.HashMap<>();
    private final int[] bucketOfParam;
    private final int[] pendingUses;
    private final dev.lattice.parallel.comm.Work[] inFlight;

    /**
     * @param model the rank's model: its (possibly tensor-parallel) parameter shards fix the flat layout
     */
    public DataParallelSync(Communicator dp, int zeroStage, GptModel model, double beta1, double beta2, double eps,
                            double weightDecay, long bucketElements) {
        this(dp, zeroStage, model, beta1, beta2, eps, weightDecay,
                new Options(bucketElements, false, false, false));
    }

    public DataParallelSync(Communicator dp, int zeroStage, GptModel model, double beta1, double beta2, double eps,
                            double weightDecay, Options options) {
        Backend be = model.backend();
        long bucketElements = options.bucketElements();
        boolean reduceInBf16 = options.reduceInBf16();
        boolean overlap = options.overlapGradReduce();
        if (options.overlapParamGather() && zeroStage == 0) {
            throw new IllegalArgumentException("--overlap-param-gather needs the distributed optimizer (ZeRO 1 or 2):"
                    + " without it there is no parameter all-gather");
        }
        this.bf16ParamGather = zeroStage > 0 && Boolean.parseBoolean(
                System.getProperty("lattice.zero.bf16ParamGather", "true"));
        this.productWeightsLast = bf16ParamGather || zeroStage > 0 && Boolean.parseBoolean(
                System.getProperty("lattice.zero.productWeightsLast", "false"));
        List<ParameterLayout.Spec> specs = ZeroBuckets.ordered(model.specs(), productWeightsLast);
        if (zeroStage < 0 || zeroStage > 2) {
            throw new IllegalArgumentException("--zero-stage " + zeroStage + " is not supported (0, 1 or 2; ZeRO-3 is"
                    + " not implemented yet)");
        }
        this.dp = dp;
        this.zeroStage = zeroStage;
        this.be = be;
        this.specs = specs;
        long[] sizes = new long[specs.size()];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = model.parameters().get(specs.get(i).name()).numel();
        }
        this.firstLayersApart = Boolean.parseBoolean(System.getProperty("lattice.zero.firstLayersApart", "true"));
        this.layout = ZeroBuckets.layout(specs, sizes, dp.size(), bucketElements, firstLayersApart,
                productWeightsLast);
        this.bucketElements = bucketElements;
        this.reduceInBf16 = reduceInBf16;
        this.overlap = overlap;
        int flatLength = Math.toIntExact(layout.flatLength());
        this.model = model;
        this.commGrad = reduceInBf16 ? be.bf16(flatLength) : be.zeros(flatLength);
        this.flatParam = zeroStage > 0 ? be.zeros(Math.toIntExact(layout.flatLength())) : null;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        if (zeroStage == 0) {
            this.replicated = new AdamW(be, specs, model.parameters(), beta1, beta2, eps, weightDecay);
            this.shardGrad = null;
            this.m = null;
            this.v = null;
            this.shardOffsets = null;
            this.commShard = null;
        } else {
            this.replicated = null;
            int owned = Math.toIntExact(layout.ownedElements(dp.rank()));
            this.shardGrad = be.zeros(owned);
            this.m = be.zeros(owned);
            this.v = be.zeros(owned);
            this.shardOffsets = new long[layout.buckets().size()];
            long off = 0;
            for (int b = 0; b < shardOffsets.length; b++) {
                shardOffsets[b] = off;
                off += layout.buckets().get(b).shardLength(dp.size());
            }
            this.commShard = reduceInBf16 ? be.bf16(owned) : shardGrad;
        }
        this.bucketOfParam = new int[specs.size()];
        for (int b = 0; b < layout.buckets().size(); b++) {
            ZeroLayout.Bucket k = layout.buckets().get(b);
            for (int p = k.firstParam(); p < k.endParam(); p++) {
                bucketOfParam[p] = b;
            }
        }
        for (int p = 0; p < specs.size(); p++) {
            paramIndex.put(specs.get(p).name(), p);
        }
        this.pendingUses = new int[layout.buckets().size()];
        this.inFlight = new dev.lattice.parallel.comm.Work[layout.buckets().size()];
        this.overlapParamGather = options.overlapParamGather();
        this.paramGathers = new dev.lattice.parallel.comm.Work[layout.buckets().size()];
        if (overlapParamGather) {
            model.withParameterHooks(this);
        }
        // Megatron's contiguous buffers: where the backend can, the model's gradients live in the communication
        // buffer and (ZeRO) its parameters in the flat parameter buffer, so no copies run between them
        // (-Dlattice.contiguousBuffers=false keeps them apart, for A/B measurements)
        boolean contiguous = Boolean.parseBoolean(System.getProperty("lattice.contiguousBuffers", "true"));
        this.gradInFlat = contiguous && !reduceInBf16 ? placeInto(commGrad, model.gradients())
                : new boolean[specs.size()];
        this.paramInFlat = contiguous && zeroStage > 0 ? placeInto(flatParam, model.parameters())
                : new boolean[specs.size()];
        this.gather = zeroStage > 0 ? ParameterGather.create(dp, be, layout, specs, model.parameters(), flatParam,
                paramInFlat, bf16ParamGather) : null;
        if (zeroStage > 0 && dp.size() > 1) {
            checkRanksAgree();
        }
    }

    /**
     * {@code -Dlattice.zero.bf16ParamGather} (ZeRO 1/2, read per instance; default true, {@code false} gathers every
     * parameter in fp32 in the model's flat order as before): the weights only products read travel
     * in the parameter all-gather as their bf16 roundings, half the bytes of fp32, straight into the other ranks' kept
     * roundings; the embeddings, norms and biases still travel in fp32. The products see the same bf16 values as with
     * an fp32 gather (the owner's AdamW writes the rounding of the weight it updated), so training is unchanged to the
     * bit against the same flat order gathered in fp32 ({@code -Dlattice.zero.productWeightsLast=true}; the order
     * moves the shard boundaries, hence the gradient norm's summation order, against the default layout). The fp32
     * weights a rank does not own go stale until {@link #materializeParameters} gathers them for a checkpoint.
     * Backends that keep no roundings (the CPU's) gather fp32 as before, in the same flat order.
     */
    private final boolean bf16ParamGather;
    private final boolean productWeightsLast; // the flat order of the bf16 parameter all-gather
    private final ParameterGather gather;     // ZeRO >= 1: the parameter all-gather after the step

    /**
     * Every rank of the DP group must cut the same flat layout and gather the same buckets in bf16 (executors started
     * with different {@code -Dlattice.zero.*} or {@code -Dlattice.keepBf16Copies} would otherwise hang or mix data
     * types in one all-gather): one sum over the group of a digest of both, at construction.
     */
    private void checkRanksAgree() {
        int digest = java.util.Objects.hash(layout.flatLength(), layout.buckets().size(), gather.digest(),
                productWeightsLast) & 0xffffff;
        double total = sum(digest);
        if (total != (double) digest * dp.size()) {
            throw new IllegalStateException("the ranks of data-parallel group " + dp.name() + " disagree on the ZeRO"
                    + " layout or on which buckets gather bf16 roundings (rank " + dp.rank() + ": " + layout.buckets()
                    .size() + " buckets, " + layout.flatLength() + " elements, bf16 buckets "
                    + gather.describe() + "); start every executor with the same"
                    + " -Dlattice.zero.* and -Dlattice.keepBf16Copies options");
        }
    }

    /** Bucket {@code b}'s parameters (their tensors). */
    private List<Tensor> bucketParameters(int b) {
        ZeroLayout.Bucket k = layout.buckets().get(b);
        List<Tensor> out = new java.util.ArrayList<>(k.endParam() - k.firstParam());
        for (int p = k.firstParam(); p < k.endParam(); p++) {
            out.add(model.parameters().get(specs.get(p).name()));
        }
        return out;
    }

    /** After bucket {@code b}'s gather: what it wrote reaches the model (roundings current, or fp32 copied in). */
    private void gathered(int b) {
        ZeroLayout.Bucket k = layout.buckets().get(b);
        if (gather.inBf16(b)) {
            be.roundingsWrittenOutside(bucketParameters(b));
            return;
        }
        unflatten(flatParam, model.parameters(), k.firstParam(), k.endParam());
        gatheredInPlace(k.firstParam(), k.endParam());
    }

    @Override
    public boolean productWeightsLast() {
        return productWeightsLast;
    }

    /**
     * For the start-up log: how much of the parameter all-gather moves bf16 roundings; null unless
     * {@code -Dlattice.zero.bf16ParamGather} asked for it (or without ZeRO).
     */
    public String bf16GatherSummary() {
        return gather == null ? null : gather.summary();
    }

    /** {@link ParameterGather#materialize}, after the gathers in flight landed. */
    @Override
    public void materializeParameters() {
        installAll();
        if (gather != null) {
            gather.materialize();
        }
    }

    /** Whether parameter p's gradient / parameter tensor lives in commGrad / flatParam (no copy needed). */
    private final boolean[] gradInFlat;
    private final boolean[] paramInFlat;

    private boolean[] placeInto(Tensor flat, Map<String, Tensor> tensors) {
        List<Tensor> list = new java.util.ArrayList<>(specs.size());
        long[] offsets = new long[specs.size()];
        for (int p = 0; p < specs.size(); p++) {
            list.add(tensors.get(specs.get(p).name()));
            offsets[p] = layout.offset(p);
        }
        return be.placeInto(flat, list, offsets);
    }

    private final boolean overlapParamGather;
    private final dev.lattice.parallel.comm.Work[] paramGathers; // per bucket: gathered parameters not yet copied in

    private double unscale = 1.0; // fp16: applied to the reduced gradients by the next step, then back to 1

    /** With overlapped reduction the gradients travel scaled (fp16): the step unscales what it reduced. */
    @Override
    public boolean unscaleAfterReduction(double factor) {
        if (overlap) {
            unscale = factor;
        }
        return overlap;
    }

    /** The buckets of these parameters: waits for their gathers and copies them into the model (first use only). */
    @Override
    public void acquire(java.util.List<String> names) {
        for (String name : names) {
            Integer p = paramIndex.get(name);
            if (p != null) {
                installBucket(bucketOfParam[p]);
            }
        }
    }

    @Override
    public void release(java.util.List<String> names) {
        // the parameters stay: only their first use after a step waits
    }

    private void installBucket(int b) {
        dev.lattice.parallel.comm.Work w = paramGathers[b];
        if (w == null) {
            return;
        }
        paramGathers[b] = null;
        w.await();
        gathered(b);
    }

    /** The all-gather wrote parameters [from, to) that live in flatParam: their kept bf16 roundings are stale. */
    private void gatheredInPlace(int from, int to) {
        List<Tensor> written = new java.util.ArrayList<>();
        for (int p = from; p < to; p++) {
            if (paramInFlat[p]) {
                written.add(model.parameters().get(specs.get(p).name()));
            }
        }
        be.writtenOutside(written);
    }

    /** Every gathered bucket into the model (before anything else reads the parameters). */
    private void installAll() {
        for (int b = 0; b < paramGathers.length; b++) {
            installBucket(b);
        }
    }

    @Override
    public int dpRank() {
        return dp.rank();
    }

    @Override
    public int dpSize() {
        return dp.size();
    }

    /** Bytes of optimizer state this rank holds (ZeRO shards it by the DP size). */
    @Override
    public long optimizerStateBytes() {
        if (zeroStage > 0) {
            return 2 * 4 * m.numel();
        }
        long n = 0;
        for (Tensor t : replicated.firstMoments().values()) {
            n += t.numel();
        }
        return 2 * 4 * n;
    }

    @Override
    public double sum(double local) {
        return dev.lattice.parallel.comm.Collectives.sum(dp, local);
    }

    /** Parameters {@code [from, to)} of {@code tensors} into their places in {@code flat}. */
    private void flatten(Map<String, Tensor> tensors, Tensor flat, int from, int to) {
        flatten(tensors, flat, from, to, new boolean[specs.size()]);
    }

    /** As above, except those already living in {@code flat}. */
    private void flatten(Map<String, Tensor> tensors, Tensor flat, int from, int to, boolean[] inFlat) {
        List<Backend.RangeCopy> copies = new java.util.ArrayList<>(to - from);
        for (int p = from; p < to; p++) {
            if (inFlat[p]) {
                continue;
            }
            copies.add(new Backend.RangeCopy(flat, layout.offset(p), tensors.get(specs.get(p).name()), 0,
                    layout.size(p)));
        }
        be.copyRanges(copies);
    }

    /**
     * Starts counting for a step of {@code backwardPasses} backward passes (micro-batches): a bucket is reduced
     * once each of its parameters has been reported that many times. Without overlap, nothing happens.
     */
    @Override
    public void beginBackward(int backwardPasses) {
        if (!overlap) {
            return;
        }
        awaitReductions();
        for (int b = 0; b < pendingUses.length; b++) {
            ZeroLayout.Bucket k = layout.buckets().get(b);
            pendingUses[b] = (k.endParam() - k.firstParam()) * backwardPasses;
        }
    }

    /** {@code passes} backward passes are done with these gradients; a bucket whose count reaches zero launches. */
    @Override
    public void gradientsAccumulated(java.util.List<String> names, int passes) {
        if (!overlap) {
            return;
        }
        for (String name : names) {
            Integer p = paramIndex.get(name);
            if (p == null) {
                continue;
            }
            int b = bucketOfParam[p];
            pendingUses[b] -= passes;
            if (pendingUses[b] == 0) {
                launch(b);
            } else if (pendingUses[b] < 0) {
                throw new IllegalStateException("gradient bucket " + b + " reported done more often than the step's"
                        + " backward passes (" + name + ")");
            }
        }
    }

    /** Copies bucket {@code b}'s gradients into the communication buffer and starts its reduction. */
    private void launch(int b) {
        if (inFlight[b] != null) {
            throw new IllegalStateException("gradient bucket " + b + " reduced twice in one step");
        }
        ZeroLayout.Bucket k = layout.buckets().get(b);
        flatten(model.gradients(), commGrad, k.firstParam(), k.endParam(), gradInFlat);
        if (reduceInBf16) {
            be.castToBf16(commGrad, commGrad); // the CPU's stand-in for bf16 storage (no-op where it is bf16)
        }
        inFlight[b] = zeroStage == 0 ? dp.allReduceAsync(commGrad, k.start(), k.length(), ReduceOp.SUM)
                : dp.reduceScatterAsync(commGrad, k.start(), commShard, shardOffsets[b], k.length() / dp.size(),
                        ReduceOp.SUM);
    }

    /** Launches the buckets not yet launched (in bucket order) and waits for all of them. */
    private void reduceAll() {
        for (int b = 0; b < inFlight.length; b++) {
            if (inFlight[b] == null) {
                launch(b);
            }
        }
        awaitReductions();
    }

    @Override
    public void awaitPending() {
        installAll();
        awaitReductions();
    }

    /** Waits for the gradient reductions in flight (not for the parameter gathers: they wait for their first use). */
    private void awaitReductions() {
        RuntimeException failure = null;
        for (int b = 0; b < inFlight.length; b++) {
            if (inFlight[b] != null) {
                try {
                    inFlight[b].await();
                } catch (RuntimeException e) {
                    failure = failure == null ? e : failure;
                }
                inFlight[b] = null;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void unflatten(Tensor flat, Map<String, Tensor> tensors) {
        unflatten(flat, tensors, 0, specs.size());
    }

    /** Parameters {@code [from, to)} from their places in {@code flat} into {@code tensors}, those living apart. */
    private void unflatten(Tensor flat, Map<String, Tensor> tensors, int from, int to) {
        boolean[] inFlat = flat == commGrad ? gradInFlat : paramInFlat;
        List<Backend.RangeCopy> copies = new java.util.ArrayList<>(to - from);
        for (int p = from; p < to; p++) {
            if (inFlat[p]) {
                continue;
            }
            copies.add(new Backend.RangeCopy(tensors.get(specs.get(p).name()), 0, flat, layout.offset(p),
                    layout.size(p)));
        }
        be.copyRanges(copies);
    }

    @Override
    public double reduceClipStep(GptModel model, double lr, double clip) {
        if (model != this.model) {
            throw new IllegalArgumentException("reduceClipStep with another model than this sync was built for");
        }
        installAll(); // the step below flattens the model's parameters: they must be the gathered ones
        reduceAll();
        float unscaleBy = (float) unscale;
        unscale = 1.0;
        if (zeroStage == 0) {
            if (reduceInBf16) {
                be.castToBf16(commGrad, commGrad); // the reduced sums, rounded as bf16 storage would
            }
            unflatten(commGrad, model.gradients());
            if (unscaleBy != 1f) {
                for (Tensor g : model.gradients().values()) {
                    be.scale(g, unscaleBy);
                }
            }
            double norm = Math.sqrt(GradientNorm.squared(model));
            if (!Double.isFinite(norm)) {
                return norm;
            }
            replicated.step(model.parameters(), model.gradients(), lr, AdamW.clipScale(norm, clip));
            steps = replicated.steps();
            return norm;
        }
        if (reduceInBf16) {
            be.castToBf16(commShard, commShard);
            be.copy(shardGrad, commShard);
        }
        if (unscaleBy != 1f) {
            be.scale(shardGrad, unscaleBy);
        }
        // The optimizer's input, enqueued before the norm's wait: it needs no norm, and on a skipped step it
        // rewrites the same values.
        flattenOwned(model.parameters(), flatParam);
        NormRanges counted = normRanges();
        double dpSquares = dpSumOfSquares(counted.parts(), counted.offsets(), counted.counts());
        double norm = Math.sqrt(dev.lattice.parallel.comm.Collectives.sum(model.pipeline().pipeline(),
                dev.lattice.parallel.comm.Collectives.sum(model.tensorParallel().comm(), dpSquares)));
        if (!Double.isFinite(norm)) {
            return norm;
        }
        float gradScale = AdamW.clipScale(norm, clip);
        steps++;
        for (int b = 0; b < layout.buckets().size(); b++) {
            // one launch per bucket; its all-gather then overlaps the next bucket's update on GPUs
            be.adamW(shardSegments(b), gradScale, lr, beta1, beta2, eps, steps);
            if (overlapParamGather) {
                paramGathers[b] = gather.start(b, true);
            } else {
                gather.start(b, false);
            }
        }
        if (!overlapParamGather) {
            for (int b = 0; b < layout.buckets().size(); b++) {
                gathered(b);
            }
        }
        return norm;
    }

    /** The ranges of {@code shardGrad} the global norm counts: {@code parts[i][offsets[i], +counts[i])}. */
    private record NormRanges(List<Tensor> parts, long[] offsets, long[] counts) {
    }

    private NormRanges normRanges;

    /**
     * This rank's shards, except the tied copy of the word embeddings (the first stage counts them) and, on TP ranks
     * other than 0, the parameters replicated over TP (TP rank 0 counts them). The same every step: made once.
     */
    private NormRanges normRanges() {
        if (normRanges == null) {
            boolean tpFirst = model.tensorParallel().rank() == 0;
            List<Tensor> parts = new java.util.ArrayList<>();
            List<long[]> ranges = new java.util.ArrayList<>(); // {offset, count} in shardGrad
            for (Owned o : owned()) {
                ZeroLayout.Segment seg = o.segment();
                if (model.stage().isTiedCopy(specs.get(seg.param()).name())) {
                    continue;
                }
                if (tpFirst || specs.get(seg.param()).split() != dev.lattice.trainer.model.TpSplit.REPLICATED) {
                    parts.add(shardGrad);
                    ranges.add(new long[] {o.local(), seg.count()});
                }
            }
            normRanges = new NormRanges(List.copyOf(parts), ranges.stream().mapToLong(r -> r[0]).toArray(),
                    ranges.stream().mapToLong(r -> r[1]).toArray());
        }
        return normRanges;
    }

    /** {@code -Dlattice.zero.normPairOnDevice=false}: the squares to the host, then Collectives.sum (for A/B runs). */
    private static final boolean NORM_PAIR_ON_DEVICE = Boolean.parseBoolean(
            System.getProperty("lattice.zero.normPairOnDevice", "true"));

    private Tensor squaresPair; // this rank's sum of squares as Collectives.pair's float pair
    private Tensor squaresPairs; // every DP rank's pair, gathered

    /**
     * The sum over the DP group of each rank's sums of squares of {@code parts} (added in order), equal to
     * {@code Collectives.sum(dp, Σ squares)} to the bit: the pairs are formed and gathered on the device and come
     * to the host once, so the host waits once instead of three times (squares, the gather's upload, its result).
     */
    private double dpSumOfSquares(List<Tensor> parts, long[] offsets, long[] counts) {
        if (dp.size() == 1 || !NORM_PAIR_ON_DEVICE) { // a lone rank's double stays as it is, not a pair
            double squares = 0;
            for (double sq : be.sumsOfSquares(parts, offsets, counts)) {
                squares += sq;
            }
            return sum(squares);
        }
        if (squaresPair == null) {
            squaresPair = be.zeros(2);
            squaresPairs = be.zeros(2 * dp.size());
        }
        be.sumOfSquaresAsPair(parts, offsets, counts, squaresPair);
        dp.allGather(squaresPair, 0, squaresPairs, 0, 2);
        return dev.lattice.parallel.comm.Collectives.sumOfPairs(be.toHost(squaresPairs), dp.size());
    }

    /**
     * This rank's shard of each bucket, from the model's parameters into {@code flat}: all the optimizer reads (the
     * all-gather after it fills the rest), 1/DP of a full flatten.
     */
    private void flattenOwned(Map<String, Tensor> tensors, Tensor flat) {
        List<Backend.RangeCopy> copies = new java.util.ArrayList<>();
        for (Owned o : owned()) {
            ZeroLayout.Segment seg = o.segment();
            if (paramInFlat[seg.param()]) {
                continue;
            }
            copies.add(new Backend.RangeCopy(flat, seg.flatOffset(), tensors.get(specs.get(seg.param()).name()),
                    seg.paramOffset(), seg.count()));
        }
        be.copyRanges(copies);
    }

    /** A parameter segment of this rank's shard of bucket {@code bucket}, at {@code local} in the shard tensors. */
    private record Owned(int bucket, ZeroLayout.Segment segment, long local) {
    }

    private java.util.List<Owned> owned;

    /** This rank's shard of every bucket as parameter segments, buckets and segments in order (the layout's). */
    private java.util.List<Owned> owned() {
        if (owned == null) {
            java.util.List<Owned> list = new java.util.ArrayList<>();
            for (int b = 0; b < layout.buckets().size(); b++) {
                long[] range = layout.shard(b, dp.rank());
                for (ZeroLayout.Segment seg : layout.segments(range[0], range[1])) {
                    list.add(new Owned(b, seg, shardOffsets[b] + (seg.flatOffset() - range[0])));
                }
            }
            owned = java.util.List.copyOf(list);
        }
        return owned;
    }

    private java.util.List<java.util.List<Backend.AdamWSegment>> shardSegments;

    /** Bucket {@code b}'s parameter segments in this rank's shard, for one AdamW call (the tensors never change). */
    private java.util.List<Backend.AdamWSegment> shardSegments(int b) {
        if (shardSegments == null) {
            shardSegments = new java.util.ArrayList<>();
            for (int k = 0; k < layout.buckets().size(); k++) {
                shardSegments.add(new java.util.ArrayList<>());
            }
            for (Owned o : owned()) {
                ZeroLayout.Segment s = o.segment();
                double wd = specs.get(s.param()).weightDecay() ? weightDecay : 0.0;
                shardSegments.get(o.bucket()).add(new Backend.AdamWSegment(flatParam, s.flatOffset(), shardGrad,
                        o.local(), m, v, o.local(), s.count(), wd));
            }
        }
        return shardSegments.get(b);
    }

    @Override
    public int steps() {
        return steps;
    }

    @Override
    public void restoreSteps(int s) {
        steps = s;
        if (replicated != null) {
            replicated.restoreSteps(s);
        }
    }

    @Override
    public java.util.List<dev.lattice.trainer.io.NamedTensor> optimizerPayload(GptModel model) {
        if (zeroStage == 0) {
            return dp.rank() == 0 ? SingleRankSync.perParameter(model, replicated.firstMoments(),
                    replicated.secondMoments()) : null;
        }
        return java.util.List.of(
                new dev.lattice.trainer.io.NamedTensor(dev.lattice.trainer.checkpoint.CheckpointLayout.flatMomentName(
                        "exp_avg", productWeightsLast), m.shape(), be.toHost(m)),
                new dev.lattice.trainer.io.NamedTensor(dev.lattice.trainer.checkpoint.CheckpointLayout.flatMomentName(
                        "exp_avg_sq", productWeightsLast), v.shape(), be.toHost(v)));
    }

    @Override
    public int checkpointZeroStage() {
        return zeroStage == 0 ? 0 : 1;
    }

    @Override
    public long bucketElements() {
        return bucketElements;
    }

    /**
     * {@code -Dlattice.zero.firstLayersApart=false} keeps the size-only buckets of checkpoints written before session
     * 9 (for A/B runs; loading reads the rule from the checkpoint either way).
     */
    private final boolean firstLayersApart;

    @Override
    public boolean firstLayersApart() {
        return firstLayersApart;
    }

    @Override
    public void loadOptimizerState(GptModel model, Map<String, Tensor> fullM, Map<String, Tensor> fullV) {
        if (zeroStage == 0) {
            for (String name : fullM.keySet()) {
                be.copy(replicated.firstMoments().get(name), fullM.get(name));
                be.copy(replicated.secondMoments().get(name), fullV.get(name));
            }
            return;
        }
        Tensor flat = be.zeros(Math.toIntExact(layout.flatLength()));
        Map<String, Tensor>[] full = new Map[] {fullM, fullV};
        Tensor[] shards = {m, v};
        for (int i = 0; i < 2; i++) {
            be.fill(flat, 0f);
            flatten(full[i], flat, 0, specs.size());
            for (int b = 0; b < layout.buckets().size(); b++) {
                long[] range = layout.shard(b, dp.rank());
                be.copyRange(shards[i], shardOffsets[b], flat, range[0], range[1] - range[0]);
            }
        }
    }
}
