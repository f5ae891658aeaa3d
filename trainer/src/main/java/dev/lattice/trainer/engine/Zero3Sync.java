package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Collectives;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.GptModel;
import dev.lattice.trainer.model.ParameterLayout;
import dev.lattice.trainer.model.TpSplit;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ZeRO stage 3: each data-parallel rank keeps only its shard of every parameter (each parameter padded to a
 * multiple of the DP size and cut in equal pieces), together with Adam's moments for that shard. A layer's
 * parameters are all-gathered for its forward or backward pass and dropped right after
 * ({@link GptModel.ParameterHooks}); the gather of the layer that comes next starts as one is acquired, so on GPUs it
 * overlaps that layer's computation (NCCL's asynchronous all-gather); gradients are reduce-scattered to their owners,
 * which update their shards. A layer's shards travel packed side by side: one collective a layer (or a group of about
 * 40 M gradient elements), not one a parameter.
 * Gradients are accumulated in full during the micro-batches (as in this engine's ZeRO-2), so the memory saved is
 * that of the parameters and optimizer state.
 */
public final class Zero3Sync implements GradientSync, GptModel.ParameterHooks {

    private final Communicator dp;
    private final GptModel model;
    private final Backend be;
    private final List<ParameterLayout.Spec> specs;
    private final Map<String, Integer> index = new LinkedHashMap<>();
    private final long[] sizes;
    private final long[] shardLength;
    private final int[][] shapes;
    private final Tensor[] paramShard;
    private final Tensor[] gradShard;
    private final Tensor[] m;
    private final Tensor[] v;
    private final Tensor empty;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private int steps;
    private List<Backend.AdamWSegment> segments; // every shard, for one AdamW call

    /** Takes the shards of the model's (full, initialised) parameters and releases the parameters. */
    public Zero3Sync(Communicator dp, GptModel model, double beta1, double beta2, double eps, double weightDecay) {
        this.dp = dp;
        this.model = model;
        this.be = model.backend();
        this.specs = model.specs();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        int n = specs.size();
        sizes = new long[n];
        shardLength = new long[n];
        shapes = new int[n][];
        paramShard = new Tensor[n];
        gradShard = new Tensor[n];
        m = new Tensor[n];
        v = new Tensor[n];
        empty = be.zeros(0);
        int ranks = dp.size();
        for (int p = 0; p < n; p++) {
            String name = specs.get(p).name();
            index.put(name, p);
            Tensor full = model.parameters().get(name);
            shapes[p] = full.shape();
            sizes[p] = full.numel();
            shardLength[p] = (sizes[p] + ranks - 1) / ranks;
            int len = Math.toIntExact(shardLength[p]);
            paramShard[p] = be.zeros(len);
            gradShard[p] = be.zeros(len);
            m[p] = be.zeros(len);
            v[p] = be.zeros(len);
            long start = dp.rank() * shardLength[p];
            long count = Math.max(0, Math.min(shardLength[p], sizes[p] - start));
            if (count > 0) {
                be.copyRange(paramShard[p], 0, full, start, count);
            }
            model.replaceParameter(name, empty);
            be.recycle(full); // the whole parameter is not kept: only its shard, copied above
        }
        model.withParameterHooks(this);
    }

    /**
     * Gathers {@code names} (or takes them from the prefetch), installs them in the model, then starts gathering
     * the parameters that followed {@code names} last time (the schedule repeats every step, the same on every
     * rank, so every rank issues the same gathers in the same order); a wrong guess is awaited and dropped.
     */
    @Override
    public void acquire(List<String> names) {
        Gather g;
        if (prefetch != null && prefetch.names.equals(names)) {
            g = prefetch;
            prefetch = null;
        } else {
            dropPrefetch();
            g = new Gather(names);
        }
        g.work.await();
        Tensor[] full = g.unpack();
        g.recycleBuffers();
        for (int i = 0; i < names.size(); i++) {
            model.replaceParameter(names.get(i), full[i]);
        }
        if (lastAcquired != null) {
            following.put(lastAcquired, names);
        }
        lastAcquired = names;
        List<String> guess = following.get(names);
        if (guess != null) {
            prefetch = new Gather(guess);
            prefetchesStarted++;
        }
    }

    private boolean padded(int p) {
        return shardLength[p] * dp.size() != sizes[p];
    }

    /** The parameters acquired after each list last time: the prediction for the next acquire. */
    private final Map<List<String>, List<String>> following = new java.util.HashMap<>();
    private List<String> lastAcquired;
    private Gather prefetch;

    /**
     * Parameters side by side: where each one's shard sits in a rank's part of a packed buffer, and that part's
     * length. One collective moves a packed buffer; a rank's part of it holds its shard of each parameter.
     */
    private final class Pack {
        final int[] params;
        final long[] offsets;
        final long length;

        Pack(int[] params) {
            this.params = params;
            this.offsets = new long[params.length];
            long at = 0;
            for (int i = 0; i < params.length; i++) {
                offsets[i] = at;
                at += shardLength[params[i]];
            }
            this.length = at;
        }

        /**
         * Copies between the full tensors and the ranks' parts of a packed buffer of {@code dp.size()} parts: rank r's
         * part holds elements [r · shard, (r + 1) · shard) of each parameter (less at the end: the padding is not
         * copied). toPacked: full → packed, else packed → full.
         */
        List<Backend.RangeCopy> rankParts(Tensor packed, Tensor[] full, boolean toPacked) {
            List<Backend.RangeCopy> copies = new java.util.ArrayList<>();
            for (int i = 0; i < params.length; i++) {
                int p = params[i];
                for (int r = 0; r < dp.size(); r++) {
                    long start = r * shardLength[p];
                    long count = Math.min(shardLength[p], sizes[p] - start);
                    if (count <= 0) {
                        break;
                    }
                    long at = r * length + offsets[i];
                    copies.add(toPacked ? new Backend.RangeCopy(packed, at, full[i], start, count)
                            : new Backend.RangeCopy(full[i], start, packed, at, count));
                }
            }
            return copies;
        }
    }

    /**
     * One all-gather of some parameters' shards (packed side by side: one collective, not one a parameter), in
     * flight; {@link #unpack} makes the full tensors. A lone unpadded parameter is gathered straight into its tensor.
     */
    private final class Gather {
        final List<String> names;
        final Pack pack;
        final Tensor send; // referenced until the gather is done
        final Tensor gathered;
        final dev.lattice.parallel.comm.Work work;
        // a lone unpadded parameter: its shard is sent as it is and gathered straight into its full tensor
        final boolean direct;

        Gather(List<String> names) {
            this.names = names;
            this.pack = new Pack(names.stream().mapToInt(index::get).toArray());
            this.direct = pack.params.length == 1 && !padded(pack.params[0]);
            if (pack.params.length == 0) { // nothing to gather: no collective, on every rank alike
                send = null;
                gathered = null;
                work = dev.lattice.parallel.comm.Work.DONE;
                return;
            }
            int p0 = pack.params[0];
            if (direct) {
                send = paramShard[p0];
                gathered = be.zeros(shapes[p0]);
            } else {
                send = be.zeros(Math.toIntExact(pack.length));
                List<Backend.RangeCopy> in = new java.util.ArrayList<>();
                for (int i = 0; i < pack.params.length; i++) {
                    int p = pack.params[i];
                    in.add(new Backend.RangeCopy(send, pack.offsets[i], paramShard[p], 0, shardLength[p]));
                }
                be.copyRanges(in);
                gathered = be.zeros(Math.toIntExact(pack.length * dp.size()));
            }
            this.work = dp.allGatherAsync(send, 0, gathered, 0, pack.length);
        }

        /**
         * After {@link #unpack} (the gather awaited): the packed send and receive buffers are dead; a lone unpadded
         * parameter's buffers are its shard and its full tensor, which live on.
         */
        void recycleBuffers() {
            if (!direct && gathered != null) {
                be.recycle(send);
                be.recycle(gathered);
            }
        }

        /** A gather that will not be installed (a wrong guess): awaited, and every buffer of it handed back. */
        void discard() {
            work.await();
            if (direct) {
                be.recycle(gathered);
            } else {
                recycleBuffers();
            }
        }

        /** The full parameters, in the order of names (after the gather is done). */
        Tensor[] unpack() {
            int[] ps = pack.params;
            if (ps.length == 0) {
                return new Tensor[0];
            }
            if (direct) {
                return new Tensor[] {gathered};
            }
            Tensor[] full = new Tensor[ps.length];
            for (int i = 0; i < ps.length; i++) {
                full[i] = be.zeros(shapes[ps[i]]);
            }
            be.copyRanges(pack.rankParts(gathered, full, false));
            return full;
        }
    }

    /**
     * Waits for an outstanding prefetch and forgets it: before the optimizer changes the shards it reads (its
     * values would be stale, and the gather would race the update) and before other collectives on the group.
     */
    private void dropPrefetch() {
        if (prefetch != null) {
            Gather g = prefetch;
            prefetch = null;
            g.discard();
        }
    }

    @Override
    public void awaitPending() {
        dropPrefetch();
    }

    /** Gathers started ahead of their acquire so far (for tests). */
    int prefetchesStarted() {
        return prefetchesStarted;
    }

    private int prefetchesStarted;

    /**
     * Drops the gathered parameters and hands their storage back at once: a step gathers every parameter twice a
     * micro-batch, and left to the garbage collector that storage is not reused but allocated anew (cudaMalloc,
     * which waits for the device) until the device is full — 350M on four GPUs ran at 4 s an iteration. The packed
     * buffers of gathers and reduce-scatters, and a wrongly guessed prefetch, go back the same way.
     */
    @Override
    public void release(List<String> names) {
        for (String name : names) {
            Tensor gathered = model.parameters().get(name);
            model.replaceParameter(name, empty);
            if (gathered != empty && gathered != null) {
                be.recycle(gathered);
            }
        }
    }

    /** Bytes of parameter shards this rank keeps between uses. */
    public long parameterShardBytes() {
        long n = 0;
        for (long s : shardLength) {
            n += s;
        }
        return 4 * n;
    }

    @Override
    public int dpRank() {
        return dp.rank();
    }

    @Override
    public int dpSize() {
        return dp.size();
    }

    @Override
    public double sum(double local) {
        return Collectives.sum(dp, local);
    }

    @Override
    public double reduceClipStep(GptModel mdl, double lr, double clip) {
        dropPrefetch(); // the next step's first gather reads the updated shards
        boolean tpFirst = mdl.tensorParallel().rank() == 0;
        reduceScatterGradients(mdl);
        List<Tensor> counted = new java.util.ArrayList<>();
        for (int p = 0; p < specs.size(); p++) {
            String name = specs.get(p).name();
            if (!mdl.stage().isTiedCopy(name) && (tpFirst || specs.get(p).split() != TpSplit.REPLICATED)) {
                counted.add(gradShard[p]);
            }
        }
        double squares = 0;
        for (double sq : be.sumsOfSquares(counted)) { // one wait, the same order and sum as one call each
            squares += sq;
        }
        double norm = Math.sqrt(Collectives.sum(mdl.pipeline().pipeline(),
                Collectives.sum(mdl.tensorParallel().comm(), sum(squares))));
        if (!Double.isFinite(norm)) {
            return norm;
        }
        steps++;
        if (segments == null) {
            List<Backend.AdamWSegment> list = new java.util.ArrayList<>();
            for (int p = 0; p < specs.size(); p++) {
                double wd = specs.get(p).weightDecay() ? weightDecay : 0.0;
                list.add(new Backend.AdamWSegment(paramShard[p], 0, gradShard[p], 0, m[p], v[p], 0, shardLength[p],
                        wd));
            }
            segments = List.copyOf(list);
        }
        be.adamW(segments, dev.lattice.trainer.optim.AdamW.clipScale(norm, clip), lr, beta1, beta2, eps, steps);
        return norm;
    }

    /** Gradients per reduce-scatter (packed): parameters in order up to this many elements (at least one). */
    private long reduceElements = DataParallelSync.DEFAULT_BUCKET_ELEMENTS;

    /** Another group size for the gradients' reduce-scatters (tests: many groups on a small model). */
    Zero3Sync withReduceElements(long elements) {
        this.reduceElements = elements;
        return this;
    }

    /**
     * Every gradient to its owners' shards: parameters packed in order into groups of about reduceElements, one
     * reduce-scatter a group, at most two groups in flight (each holds a packed copy of its gradients).
     */
    private void reduceScatterGradients(GptModel mdl) {
        java.util.ArrayDeque<Runnable> inFlight = new java.util.ArrayDeque<>();
        int p = 0;
        while (p < specs.size()) {
            int from = p;
            long elements = 0;
            while (p < specs.size() && (p == from || elements + sizes[p] <= reduceElements)) {
                elements += sizes[p++];
            }
            if (inFlight.size() == 2) {
                inFlight.poll().run();
            }
            inFlight.add(reduceScatter(mdl, java.util.stream.IntStream.range(from, p).toArray()));
        }
        RuntimeException failure = null;
        while (!inFlight.isEmpty()) { // every one, so none is left in flight
            try {
                inFlight.poll().run();
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** Starts the reduce-scatter of these parameters' gradients; the returned completion waits and unpacks. */
    private Runnable reduceScatter(GptModel mdl, int[] params) {
        Pack pack = new Pack(params);
        Tensor[] grads = new Tensor[params.length];
        for (int i = 0; i < params.length; i++) {
            grads[i] = mdl.gradients().get(specs.get(params[i]).name());
        }
        Tensor send = be.zeros(Math.toIntExact(pack.length * dp.size())); // the padding stays zero
        be.copyRanges(pack.rankParts(send, grads, true));
        Tensor recv = be.zeros(Math.toIntExact(pack.length));
        dev.lattice.parallel.comm.Work work = dp.reduceScatterAsync(send, 0, recv, 0, pack.length, ReduceOp.SUM);
        return () -> {
            work.await();
            List<Backend.RangeCopy> out = new java.util.ArrayList<>();
            for (int i = 0; i < params.length; i++) {
                out.add(new Backend.RangeCopy(gradShard[params[i]], 0, recv, pack.offsets[i],
                        shardLength[params[i]]));
            }
            be.copyRanges(out);
            be.recycle(send); // referenced until here: the packed gradients live until the reduction is done
            be.recycle(recv);
        };
    }

    @Override
    public long optimizerStateBytes() {
        return 2 * parameterShardBytes();
    }

    @Override
    public int steps() {
        return steps;
    }

    @Override
    public void restoreSteps(int s) {
        steps = s;
    }

    private Map<String, Tensor> gather(Tensor[] shards) {
        dropPrefetch();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int p = 0; p < specs.size(); p++) {
            Tensor gathered = be.zeros(Math.toIntExact(shardLength[p] * dp.size()));
            dp.allGather(shards[p], 0, gathered, 0, shardLength[p]);
            Tensor full = be.zeros(shapes[p]);
            be.copyRange(full, 0, gathered, 0, sizes[p]);
            be.recycle(gathered);
            out.put(specs.get(p).name(), full);
        }
        return out;
    }

    /** The full parameters (collective over DP), for checkpoints. */
    public Map<String, Tensor> fullParameters() {
        return gather(paramShard);
    }

    @Override
    public java.util.List<dev.lattice.trainer.io.NamedTensor> optimizerPayload(GptModel mdl) {
        java.util.List<dev.lattice.trainer.io.NamedTensor> out = new java.util.ArrayList<>();
        for (int p = 0; p < specs.size(); p++) {
            String name = specs.get(p).name();
            int[] shape = {Math.toIntExact(shardLength[p])};
            out.add(new dev.lattice.trainer.io.NamedTensor("exp_avg." + name, shape, be.toHost(m[p])));
            out.add(new dev.lattice.trainer.io.NamedTensor("exp_avg_sq." + name, shape, be.toHost(v[p])));
        }
        return out;
    }

    @Override
    public int checkpointZeroStage() {
        return 3;
    }

    @Override
    public void loadOptimizerState(GptModel mdl, Map<String, Tensor> fullM, Map<String, Tensor> fullV) {
        for (int p = 0; p < specs.size(); p++) {
            String name = specs.get(p).name();
            long start = dp.rank() * shardLength[p];
            long count = Math.max(0, Math.min(shardLength[p], sizes[p] - start));
            if (count > 0) {
                be.copyRange(m[p], 0, fullM.get(name), start, count);
                be.copyRange(v[p], 0, fullV.get(name), start, count);
            }
        }
    }
}
