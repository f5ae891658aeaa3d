package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.Work;
import dev.lattice.parallel.zero.ZeroLayout;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.model.ParameterLayout;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * ZeRO's parameter all-gather after the optimizer step, per bucket: the fp32 values of the flat parameter buffer, or,
 * for a bucket of product-only weights whose kept bf16 roundings the backend placed in a bf16 twin of that buffer,
 * those roundings (half the bytes, straight into the other ranks' roundings; {@code -Dlattice.zero.bf16ParamGather}).
 * The products see the same bf16 values either way: the owner's AdamW writes the rounding of the weight it updated,
 * which is what a rank would round from the gathered fp32 value. The fp32 values a rank does not own then go stale
 * until {@link #materialize} gathers them.
 */
final class ParameterGather {

    private final Communicator dp;
    private final ZeroLayout layout;
    private final Tensor flatParam;
    private final boolean requested;
    private final boolean[] inBf16;
    private final Tensor flatBf16;   // null where no bucket gathers bf16
    private final long flatBf16Start; // flatParam's element that flatBf16's element 0 twins
    private boolean stale; // a bf16 gather ran since the last materialize: fp32 values a rank does not own are old

    private ParameterGather(Communicator dp, ZeroLayout layout, Tensor flatParam, boolean requested, boolean[] inBf16,
                            Tensor flatBf16, long flatBf16Start) {
        this.dp = dp;
        this.layout = layout;
        this.flatParam = flatParam;
        this.requested = requested;
        this.inBf16 = inBf16;
        this.flatBf16 = flatBf16;
        this.flatBf16Start = flatBf16Start;
    }

    /**
     * The gather of {@code layout}'s buckets of {@code flatParam}. With {@code bf16} (and specs in the
     * product-weights-last order) the product-only weights' kept roundings move into a bf16 twin of flatParam's
     * product-only buckets (the order puts them last, so the twin covers flatParam from the first of them on); a
     * bucket whose every parameter moved is gathered in bf16. None moves where the backend keeps no roundings
     * ({@link Backend#keepsRoundings}) or a parameter does not live in flatParam ({@code inFlat}).
     */
    static ParameterGather create(Communicator dp, Backend be, ZeroLayout layout, List<ParameterLayout.Spec> specs,
                                  Map<String, Tensor> parameters, Tensor flatParam, boolean[] inFlat, boolean bf16) {
        boolean[] inBf16 = new boolean[layout.buckets().size()];
        int first = 0;
        while (first < inBf16.length && !productBucket(layout.buckets().get(first), specs)) {
            first++;
        }
        if (!bf16 || !be.keepsRoundings() || first == inBf16.length) {
            return new ParameterGather(dp, layout, flatParam, bf16, inBf16, null, 0);
        }
        long start = layout.buckets().get(first).start();
        List<Integer> candidates = new ArrayList<>();
        for (int p = layout.buckets().get(first).firstParam(); p < specs.size(); p++) {
            if (inFlat[p]) {
                candidates.add(p);
            }
        }
        Tensor twin = be.bf16(Math.toIntExact(layout.flatLength() - start));
        List<Tensor> weights = new ArrayList<>();
        long[] offsets = new long[candidates.size()];
        for (int i = 0; i < candidates.size(); i++) {
            weights.add(parameters.get(specs.get(candidates.get(i)).name()));
            offsets[i] = layout.offset(candidates.get(i));
        }
        boolean[] placed = be.placeRoundingsInto(flatParam, start, twin, weights, offsets);
        boolean[] roundingInTwin = new boolean[specs.size()];
        boolean any = false;
        for (int i = 0; i < placed.length; i++) {
            roundingInTwin[candidates.get(i)] = placed[i];
            any |= placed[i];
        }
        for (int b = first; b < inBf16.length && any; b++) {
            ZeroLayout.Bucket k = layout.buckets().get(b);
            boolean all = true;
            for (int p = k.firstParam(); p < k.endParam(); p++) {
                all &= roundingInTwin[p];
            }
            inBf16[b] = all;
        }
        return new ParameterGather(dp, layout, flatParam, true, inBf16, any ? twin : null, start);
    }

    /** Whether every parameter of bucket {@code k} is a product-only weight. */
    private static boolean productBucket(ZeroLayout.Bucket k, List<ParameterLayout.Spec> specs) {
        for (int p = k.firstParam(); p < k.endParam(); p++) {
            if (!ZeroBuckets.productOnly(specs.get(p))) {
                return false;
            }
        }
        return k.endParam() > k.firstParam();
    }

    /** Whether bucket {@code b} travels as bf16 roundings. */
    boolean inBf16(int b) {
        return inBf16[b];
    }

    /** Bucket {@code b}'s updated shard to every rank: bf16 roundings or fp32 values, asynchronous or not. */
    Work start(int b, boolean async) {
        stale |= inBf16[b];
        return inBf16[b] ? allGather(b, flatBf16, flatBf16Start, async) : allGather(b, flatParam, 0, async);
    }

    /** Bucket {@code b} of {@code flat}, whose element 0 is the flat layout's element {@code base}, to every rank. */
    private Work allGather(int b, Tensor flat, long base, boolean async) {
        long[] range = layout.shard(b, dp.rank());
        ZeroLayout.Bucket k = layout.buckets().get(b);
        long count = k.length() / dp.size();
        if (async) {
            return dp.allGatherAsync(flat, range[0] - base, flat, k.start() - base, count);
        }
        dp.allGather(flat, range[0] - base, flat, k.start() - base, count);
        return Work.DONE;
    }

    /**
     * The fp32 values of the buckets that travel as bf16 roundings, gathered (blocking) so that every rank holds its
     * parameters whole; the roundings stay as they are (they are the roundings of these values). Nothing to do when no
     * bf16 gather ran since the last time (a final checkpoint, then the end of the run), on every rank alike.
     */
    void materialize() {
        if (!stale) {
            return;
        }
        stale = false;
        for (int b = 0; b < inBf16.length; b++) {
            if (inBf16[b]) {
                allGather(b, flatParam, 0, false);
            }
        }
    }

    /** What the ranks of a group must agree on, besides the layout: which buckets gather bf16. */
    int digest() {
        return java.util.Arrays.hashCode(inBf16);
    }

    String describe() {
        return java.util.Arrays.toString(inBf16);
    }

    /** For the start-up log: how much of the gather moves bf16 roundings; null unless the bf16 gather was asked for. */
    String summary() {
        if (!requested) {
            return null;
        }
        int buckets = 0;
        long elements = 0;
        for (int b = 0; b < inBf16.length; b++) {
            if (inBf16[b]) {
                buckets++;
                elements += layout.buckets().get(b).length();
            }
        }
        return String.format(Locale.ROOT, "ZeRO parameter all-gather: %d of %d buckets (%,d of %,d elements) as bf16"
                + " roundings%s", buckets, inBf16.length, elements, layout.flatLength(),
                buckets == 0 ? " (none: this backend keeps no roundings, or the precision is fp32)" : "");
    }
}
