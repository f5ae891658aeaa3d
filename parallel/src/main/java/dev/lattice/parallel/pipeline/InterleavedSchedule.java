package dev.lattice.parallel.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * Megatron's interleaved (virtual-pipeline) schedule as of HEAD ({@code forward_backward_pipelining_with_interleaving}
 * with {@code microbatch_group_size_per_vp_stage = N}, non-overlapped p2p; spec §7.2).
 *
 * <ul>
 *   <li>Schedule table: microbatches in groups of N; within a group, for chunk 0..V−1, each microbatch of the group;
 *       the group that reaches M takes the remainder. Forward virtual step k runs {@code table[k]}; backward virtual
 *       step k runs microbatch {@code table[k].microbatch} on chunk {@code V−1−table[k].chunk}.</li>
 *   <li>Warmup {@code W = 2·(PP − rank − 1) + (V − 1)·N}; if {@code W ≥ M·V} the rank is all-warmup
 *       ({@code W = M·V}: all forwards, then all backwards). Steady state: forward {@code k + W}, backward k.
 *       Cooldown: the remaining backwards.</li>
 *   <li>Constraints (HEAD): PP &gt; 1, V ≥ 1, {@code PP ≤ N ≤ M}, {@code M mod N ∈ {0} ∪ [PP, ∞)}.</li>
 * </ul>
 *
 * <p>V = 1 is accepted and yields the formula above with W = 2·(PP − rank − 1); Megatron itself runs the
 * non-interleaved 1F1B when no virtual pipeline is configured (see {@link PipelineSchedules}).
 *
 * <p>PP = 2 is accepted (Megatron's argument check demands PP &gt; 2 unless {@code --overlap-p2p-comm}, because with
 * two ranks one batch carries an activation and a gradient between the same pair). The batches built here list
 * activations before gradients on both ends, so they stay matched even on one untagged FIFO per rank pair; the
 * simulator checks this.
 */
public final class InterleavedSchedule {

    /** One entry of the schedule table: a (microbatch, chunk) forward. */
    public record Entry(int microbatch, int chunk) {
    }

    private InterleavedSchedule() {
    }

    /**
     * Checks the HEAD constraints and throws {@link IllegalArgumentException} naming the violated one.
     */
    public static void validate(int pp, int rank, int microbatches, int chunks, int groupSize) {
        if (pp <= 1) {
            throw new IllegalArgumentException(
                    "interleaved schedule requires pipeline-parallel size PP > 1, got PP=" + pp + " (V=" + chunks + ")");
        }
        if (rank < 0 || rank >= pp) {
            throw new IllegalArgumentException("pipeline rank must be in [0, PP) = [0, " + pp + "), got rank=" + rank);
        }
        if (chunks < 1) {
            throw new IllegalArgumentException("model chunks per rank V must be >= 1, got V=" + chunks);
        }
        if (microbatches < 1) {
            throw new IllegalArgumentException("number of microbatches M must be >= 1, got M=" + microbatches);
        }
        if (groupSize < pp || groupSize > microbatches) {
            throw new IllegalArgumentException("microbatch group size per virtual stage N must satisfy PP <= N <= M"
                    + " (PP=" + pp + ", N=" + groupSize + ", M=" + microbatches + ")"
                    + (groupSize == pp ? "; with the default N = PP this means M >= PP" : ""));
        }
        int remainder = microbatches % groupSize;
        if (remainder > 0 && remainder < pp) {
            throw new IllegalArgumentException("M mod N must be 0 or >= PP (M=" + microbatches + ", N=" + groupSize
                    + ", PP=" + pp + ", M mod N=" + remainder + ")"
                    + (groupSize == pp ? "; with the default N = PP this means M % PP == 0" : ""));
        }
    }

    /** The schedule table (length M·V). Requires {@code 1 ≤ N} and {@code V ≥ 1}; does not check PP constraints. */
    public static List<Entry> scheduleTable(int microbatches, int chunks, int groupSize) {
        if (microbatches < 1 || chunks < 1 || groupSize < 1) {
            throw new IllegalArgumentException("schedule table needs M, V, N >= 1 (M=" + microbatches + ", V=" + chunks
                    + ", N=" + groupSize + ")");
        }
        List<Entry> table = new ArrayList<>(microbatches * chunks);
        for (int start = 0; start < microbatches; start += groupSize) {
            int end = start + groupSize >= microbatches ? microbatches : start + groupSize;
            for (int c = 0; c < chunks; c++) {
                for (int mb = start; mb < end; mb++) {
                    table.add(new Entry(mb, c));
                }
            }
            if (end == microbatches) {
                break;
            }
        }
        return List.copyOf(table);
    }

    /** Warmup count of a training step, capped at M·V. */
    public static int warmup(int pp, int rank, int microbatches, int chunks, int groupSize) {
        validate(pp, rank, microbatches, chunks, groupSize);
        return Math.min(rawWarmup(pp, rank, chunks, groupSize), microbatches * chunks);
    }

    /** True when {@code 2·(PP − rank − 1) + (V − 1)·N ≥ M·V}: all forwards, then all backwards. */
    public static boolean allWarmup(int pp, int rank, int microbatches, int chunks, int groupSize) {
        validate(pp, rank, microbatches, chunks, groupSize);
        return rawWarmup(pp, rank, chunks, groupSize) >= microbatches * chunks;
    }

    private static int rawWarmup(int pp, int rank, int chunks, int groupSize) {
        return 2 * (pp - rank - 1) + (chunks - 1) * groupSize;
    }

    public static List<PipelineStep> steps(int pp, int rank, int microbatches, int chunks) {
        return steps(pp, rank, microbatches, chunks, pp);
    }

    public static List<PipelineStep> steps(int pp, int rank, int microbatches, int chunks, int groupSize) {
        return PipelineActions.computeSteps(build(pp, rank, microbatches, chunks, groupSize, false));
    }

    /** Forward-only: all M·V forwards in table order. */
    public static List<PipelineStep> forwardOnlySteps(int pp, int rank, int microbatches, int chunks, int groupSize) {
        return PipelineActions.computeSteps(build(pp, rank, microbatches, chunks, groupSize, true));
    }

    public static List<Action> actions(int pp, int rank, int microbatches, int chunks) {
        return actions(pp, rank, microbatches, chunks, pp);
    }

    /**
     * The training step as HEAD Megatron communicates it (non-overlapped p2p): a {@code recv_forward} for forward 0
     * before the loop; after each warmup forward a {@code send_forward_recv_forward} (the last warmup step, unless
     * all-warmup, also receives the gradient for backward 0); after each steady forward+backward pair one
     * {@code send_forward_backward_recv_forward_backward}; in cooldown, {@code recv_backward} first if all-warmup,
     * then {@code send_backward_recv_backward} after each backward. Receives are for the NEXT step; the first rank
     * (forward) and the last rank (backward) receive what the opposite end of the ring produced PP−1 virtual steps
     * earlier. No-op parts are left out; ops inside a batch are ordered sends (activation, gradient) then receives
     * (activation, gradient).
     */
    public static List<Action> actions(int pp, int rank, int microbatches, int chunks, int groupSize) {
        return build(pp, rank, microbatches, chunks, groupSize, false);
    }

    public static List<Action> forwardOnlyActions(int pp, int rank, int microbatches, int chunks, int groupSize) {
        return build(pp, rank, microbatches, chunks, groupSize, true);
    }

    private static List<Action> build(int pp, int rank, int m, int v, int n, boolean forwardOnly) {
        validate(pp, rank, m, v, n);
        Builder b = new Builder(pp, rank, v, scheduleTable(m, v, n));
        int total = m * v;
        int raw = rawWarmup(pp, rank, v, n);
        boolean allWarmup = forwardOnly || raw >= total;
        int w = allWarmup ? total : raw;
        int remaining = total - w;
        List<Action> out = new ArrayList<>();

        // recv_forward for forward 0 (chunk 0) before the warmup loop; a no-op on the first rank.
        if (rank != 0) {
            out.add(Action.p2p(b.recvForward(b.table.get(0))));
        }
        for (int k = 0; k < w; k++) {
            Entry f = b.table.get(k);
            out.add(Action.forward(f.microbatch(), f.chunk()));
            List<P2pOp> ops = new ArrayList<>();
            b.addSendForward(ops, f);
            if (k != total - 1) {
                b.addRecvForward(ops, b.forwardInputAfter(k));
            }
            if (k == w - 1 && !allWarmup && rank != pp - 1) {
                // Last warmup step switches to send_forward_backward_recv_forward_backward and receives the output
                // gradient of backward 0 (chunk V-1).
                b.addRecvBackward(ops, b.backwardEntry(0));
            }
            b.emit(out, ops);
        }
        for (int k = 0; k < remaining; k++) {
            int fk = k + w;
            Entry f = b.table.get(fk);
            Entry bw = b.backwardEntry(k);
            out.add(Action.forward(f.microbatch(), f.chunk()));
            out.add(Action.backward(bw.microbatch(), bw.chunk()));
            List<P2pOp> ops = new ArrayList<>();
            b.addSendForward(ops, f);
            b.addSendBackward(ops, bw);
            if (k != remaining - 1) {
                b.addRecvForward(ops, b.forwardInputAfter(fk));
            }
            b.addRecvBackward(ops, b.gradientInputAfter(k));
            b.emit(out, ops);
        }
        if (!forwardOnly) {
            if (allWarmup && rank != pp - 1) {
                out.add(Action.p2p(b.recvBackward(b.backwardEntry(0))));
            }
            for (int k = remaining; k < total; k++) {
                Entry bw = b.backwardEntry(k);
                out.add(Action.backward(bw.microbatch(), bw.chunk()));
                List<P2pOp> ops = new ArrayList<>();
                b.addSendBackward(ops, bw);
                if (k != total - 1) {
                    b.addRecvBackward(ops, b.gradientInputAfter(k));
                }
                b.emit(out, ops);
            }
        }
        return List.copyOf(out);
    }

    private static final class Builder {
        final int pp;
        final int rank;
        final int chunks;
        final List<Entry> table;

        Builder(int pp, int rank, int chunks, List<Entry> table) {
            this.pp = pp;
            this.rank = rank;
            this.chunks = chunks;
            this.table = table;
        }

        /** Backward virtual step k: microbatch table[k].mb on chunk V−1−table[k].chunk. */
        Entry backwardEntry(int k) {
            Entry e = table.get(k);
            return new Entry(e.microbatch(), chunks - 1 - e.chunk());
        }

        /**
         * The forward input this rank receives in the communication after forward virtual step k, or null. Megatron's
         * {@code recv_tensor_from_previous_stage(k, forward=True)}: a middle/last rank receives the input of forward
         * k+1; the first rank is PP−1 virtual steps ahead of the last rank, so it receives what the last rank's forward
         * k−(PP−1) produced (nothing if that was the last chunk), which feeds the next chunk.
         */
        Entry forwardInputAfter(int k) {
            if (rank != 0) {
                return table.get(k + 1);
            }
            if (k < pp - 1) {
                return null;
            }
            Entry src = table.get(k - (pp - 1));
            return src.chunk() == chunks - 1 ? null : new Entry(src.microbatch(), src.chunk() + 1);
        }

        /** Mirror of {@link #forwardInputAfter} for gradients; the last rank is the leading stage in backward. */
        Entry gradientInputAfter(int k) {
            if (rank != pp - 1) {
                return backwardEntry(k + 1);
            }
            if (k < pp - 1) {
                return null;
            }
            Entry src = backwardEntry(k - (pp - 1));
            return src.chunk() == 0 ? null : new Entry(src.microbatch(), src.chunk() - 1);
        }

        P2pOp recvForward(Entry e) {
            return P2pOp.recvForward(pp, rank, e.microbatch(), e.chunk());
        }

        P2pOp recvBackward(Entry e) {
            return P2pOp.recvBackward(pp, chunks, rank, e.microbatch(), e.chunk());
        }

        void addSendForward(List<P2pOp> ops, Entry e) {
            if (!VirtualStages.isLast(pp, chunks, rank, e.chunk())) {
                ops.add(P2pOp.sendForward(pp, chunks, rank, e.microbatch(), e.chunk()));
            }
        }

        void addSendBackward(List<P2pOp> ops, Entry e) {
            if (!VirtualStages.isFirst(rank, e.chunk())) {
                ops.add(P2pOp.sendBackward(pp, rank, e.microbatch(), e.chunk()));
            }
        }

        void addRecvForward(List<P2pOp> ops, Entry e) {
            if (e != null) {
                ops.add(recvForward(e));
            }
        }

        void addRecvBackward(List<P2pOp> ops, Entry e) {
            if (e != null) {
                ops.add(recvBackward(e));
            }
        }

        void emit(List<Action> out, List<P2pOp> ops) {
            if (!ops.isEmpty()) {
                ops.sort((a, b) -> Integer.compare(a.kind().ordinal(), b.kind().ordinal()));
                out.add(Action.p2p(ops));
            }
        }
    }
}
