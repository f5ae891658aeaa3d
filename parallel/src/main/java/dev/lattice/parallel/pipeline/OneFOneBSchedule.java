package dev.lattice.parallel.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * Megatron's non-interleaved 1F1B schedule ({@code forward_backward_pipelining_without_interleaving}, spec §7.1).
 * Rank {@code r} runs {@code W = min(PP − r − 1, M)} warmup forwards, then {@code M − W} pairs (forward
 * {@code i + W}, backward {@code i}), then {@code W} cooldown backwards. Chunk is always 0. PP = 1 gives the
 * no-pipelining order F0 B0 F1 B1 … without any communication.
 */
public final class OneFOneBSchedule {

    private OneFOneBSchedule() {
    }

    /** Warmup forwards of a training step: {@code min(PP − rank − 1, M)}. */
    public static int warmup(int pp, int rank, int microbatches) {
        validate(pp, rank, microbatches);
        return Math.min(pp - rank - 1, microbatches);
    }

    public static List<PipelineStep> steps(int pp, int rank, int microbatches) {
        int w = warmup(pp, rank, microbatches);
        List<PipelineStep> out = new ArrayList<>(2 * microbatches);
        for (int i = 0; i < w; i++) {
            out.add(PipelineStep.forward(i, 0));
        }
        for (int i = 0; i < microbatches - w; i++) {
            out.add(PipelineStep.forward(i + w, 0));
            out.add(PipelineStep.backward(i, 0));
        }
        for (int i = microbatches - w; i < microbatches; i++) {
            out.add(PipelineStep.backward(i, 0));
        }
        return List.copyOf(out);
    }

    /** Forward-only (evaluation): all M forwards. */
    public static List<PipelineStep> forwardOnlySteps(int pp, int rank, int microbatches) {
        validate(pp, rank, microbatches);
        List<PipelineStep> out = new ArrayList<>(microbatches);
        for (int i = 0; i < microbatches; i++) {
            out.add(PipelineStep.forward(i, 0));
        }
        return List.copyOf(out);
    }

    /**
     * The training step as Megatron communicates it: warmup {@code recv_forward, F, send_forward}; one extra
     * {@code recv_forward} before the steady state; steady {@code F, send_forward_recv_backward, B,
     * send_backward_recv_forward} (plain {@code send_backward} in the last steady iteration); cooldown
     * {@code recv_backward, B, send_backward}. Ops that are no-ops on this stage (first stage receives no activation
     * and sends no gradient, last stage sends no activation and receives no gradient) are left out, and so is an
     * action whose ops are all left out.
     */
    public static List<Action> actions(int pp, int rank, int microbatches) {
        int m = microbatches;
        int w = warmup(pp, rank, m);
        int remaining = m - w;
        boolean first = rank == 0;
        boolean last = rank == pp - 1;
        List<Action> out = new ArrayList<>();
        for (int i = 0; i < w; i++) {
            if (!first) {
                out.add(Action.p2p(P2pOp.recvForward(pp, rank, i, 0)));
            }
            out.add(Action.forward(i, 0));
            if (!last) {
                out.add(Action.p2p(P2pOp.sendForward(pp, 1, rank, i, 0)));
            }
        }
        if (remaining > 0 && !first) {
            out.add(Action.p2p(P2pOp.recvForward(pp, rank, w, 0)));
        }
        for (int i = 0; i < remaining; i++) {
            out.add(Action.forward(i + w, 0));
            if (!last) {
                out.add(Action.p2p(P2pOp.sendForward(pp, 1, rank, i + w, 0),
                        P2pOp.recvBackward(pp, 1, rank, i, 0)));
            }
            out.add(Action.backward(i, 0));
            if (!first) {
                if (i == remaining - 1) {
                    out.add(Action.p2p(P2pOp.sendBackward(pp, rank, i, 0)));
                } else {
                    out.add(Action.p2p(P2pOp.sendBackward(pp, rank, i, 0),
                            P2pOp.recvForward(pp, rank, i + w + 1, 0)));
                }
            }
        }
        for (int i = remaining; i < m; i++) {
            if (!last) {
                out.add(Action.p2p(P2pOp.recvBackward(pp, 1, rank, i, 0)));
            }
            out.add(Action.backward(i, 0));
            if (!first) {
                out.add(Action.p2p(P2pOp.sendBackward(pp, rank, i, 0)));
            }
        }
        return List.copyOf(out);
    }

    /** Forward-only: {@code recv_forward, F, send_forward} for every microbatch. */
    public static List<Action> forwardOnlyActions(int pp, int rank, int microbatches) {
        return PipelineActions.fromSteps(pp, rank, 1, forwardOnlySteps(pp, rank, microbatches));
    }

    static void validate(int pp, int rank, int microbatches) {
        VirtualStages.checkRank(pp, rank);
        if (microbatches < 1) {
            throw new IllegalArgumentException("number of microbatches M must be >= 1, got M=" + microbatches);
        }
    }
}
