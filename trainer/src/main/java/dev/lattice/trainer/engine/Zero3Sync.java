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
 * which update their shards.
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
        for (int i = 0; i < names.size(); i++) {
            int p = index.get(names.get(i));
            model.replaceParameter(names.get(i), unpadded(p, g.padded[i]));
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

    /**
     * The parameter's gathered buffer with its shape: a parameter whose size divides by the DP size was gathered
     * straight into a tensor of its shape; a padded one is copied out of its padded buffer.
     */
    private Tensor unpadded(int p, Tensor gathered) {
        if (!padded(p)) {
            return gathered;
        }
        Tensor full = be.zeros(shapes[p]);
        be.copyRange(full, 0, gathered, 0, sizes[p]);
        return full;
    }

    private boolean padded(int p) {
        return shardLength[p] * dp.size() != sizes[p];
    }

    /** A buffer for parameter p's gathered (or to-be-scattered) elements: its own shape unless it is padded. */
    private Tensor gatherBuffer(int p) {
        return padded(p) ? be.zeros(Math.toIntExact(shardLength[p] * dp.size())) : be.zeros(shapes[p]);
    }

    /** The parameters acquired after each list last time: the prediction for the next acquire. */
    private final Map<List<String>, List<String>> following = new java.util.HashMap<>();
    private List<String> lastAcquired;
    private Gather prefetch;

    /** The all-gathers of some parameters' shards into padded full buffers, in flight. */
    private final class Gather {
        final List<String> names;
        final Tensor[] padded;
        final dev.lattice.parallel.comm.Work work;

        Gather(List<String> names) {
            this.names = names;
            this.padded = new Tensor[names.size()];
            List<dev.lattice.parallel.comm.Work> works = new java.util.ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                int p = index.get(names.get(i));
                padded[i] = gatherBuffer(p);
                works.add(dp.allGatherAsync(paramShard[p], 0, padded[i], 0, shardLength[p]));
            }
            this.work = new dev.lattice.parallel.comm.Work() {
                @Override
                public void await() {
                    for (dev.lattice.parallel.comm.Work w : works) {
                        w.await();
                    }
                }

                @Override
                public boolean isDone() {
                    return works.stream().allMatch(dev.lattice.parallel.comm.Work::isDone);
                }
            };
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
            g.work.await();
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

    @Override
    public void release(List<String> names) {
        for (String name : names) {
            model.replaceParameter(name, empty);
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
        int ranks = dp.size();
        boolean tpFirst = mdl.tensorParallel().rank() == 0;
        List<Tensor> counted = new java.util.ArrayList<>();
        List<dev.lattice.parallel.comm.Work> reductions = new java.util.ArrayList<>();
        List<Tensor> sends = new java.util.ArrayList<>(); // referenced until their reductions are done
        for (int p = 0; p < specs.size(); p++) {
            Tensor grad = mdl.gradients().get(specs.get(p).name());
            Tensor send = grad;
            if (padded(p)) { // the padding past the gradient stays zero
                send = be.zeros(Math.toIntExact(shardLength[p] * ranks));
                be.copyRange(send, 0, grad, 0, sizes[p]);
            }
            // all enqueued, then one wait: not a host round trip per parameter
            sends.add(send);
            reductions.add(dp.reduceScatterAsync(send, 0, gradShard[p], 0, shardLength[p], ReduceOp.SUM));
            String name = specs.get(p).name();
            if (!mdl.stage().isTiedCopy(name) && (tpFirst || specs.get(p).split() != TpSplit.REPLICATED)) {
                counted.add(gradShard[p]);
            }
        }
        RuntimeException failure = null;
        for (dev.lattice.parallel.comm.Work w : reductions) { // every one, so none is left in flight
            try {
                w.await();
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        sends.clear();
        if (failure != null) {
            throw failure;
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
            Tensor gathered = gatherBuffer(p);
            dp.allGather(shards[p], 0, gathered, 0, shardLength[p]);
            out.put(specs.get(p).name(), unpadded(p, gathered));
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
