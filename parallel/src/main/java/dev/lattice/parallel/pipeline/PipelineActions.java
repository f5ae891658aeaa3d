package dev.lattice.parallel.pipeline;

import java.util.ArrayList;
import java.util.List;

/** Helpers that convert between compute steps and action lists. */
public final class PipelineActions {

    private PipelineActions() {
    }

    /** The compute steps of an action list, in order. */
    public static List<PipelineStep> computeSteps(List<Action> actions) {
        List<PipelineStep> out = new ArrayList<>();
        for (Action a : actions) {
            if (a.isCompute()) {
                out.add(a.step());
            }
        }
        return List.copyOf(out);
    }

    /**
     * Un-fused communication derived from dataflow alone: a single {@code RECV_*} right before each compute step that
     * needs an input from a neighbour, a single {@code SEND_*} right after each step whose output a neighbour needs.
     * Correct with a buffered (non-blocking send) transport for any dataflow-consistent step order, but NOT with
     * rendezvous sends (use the schedules' own {@code actions(...)}, which fuse like Megatron).
     */
    public static List<Action> fromSteps(int pp, int rank, int chunks, List<PipelineStep> steps) {
        VirtualStages.checkRank(pp, rank);
        if (chunks < 1) {
            throw new IllegalArgumentException("chunks V must be >= 1, got V=" + chunks);
        }
        List<Action> out = new ArrayList<>();
        for (PipelineStep s : steps) {
            int mb = s.microbatch();
            int c = s.chunk();
            if (c >= chunks) {
                throw new IllegalArgumentException("step " + s + " uses chunk " + c + " but V=" + chunks);
            }
            boolean first = VirtualStages.isFirst(rank, c);
            boolean last = VirtualStages.isLast(pp, chunks, rank, c);
            if (s.isForward()) {
                if (!first) {
                    out.add(Action.p2p(P2pOp.recvForward(pp, rank, mb, c)));
                }
                out.add(Action.compute(s));
                if (!last) {
                    out.add(Action.p2p(P2pOp.sendForward(pp, chunks, rank, mb, c)));
                }
            } else {
                if (!last) {
                    out.add(Action.p2p(P2pOp.recvBackward(pp, chunks, rank, mb, c)));
                }
                out.add(Action.compute(s));
                if (!first) {
                    out.add(Action.p2p(P2pOp.sendBackward(pp, rank, mb, c)));
                }
            }
        }
        return List.copyOf(out);
    }
}
