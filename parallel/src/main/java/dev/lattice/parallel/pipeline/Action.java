package dev.lattice.parallel.pipeline;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * One entry of a rank's pipeline program: either a compute step ({@link Type#FORWARD} / {@link Type#BACKWARD}, with
 * {@code step} set and no ops) or one batch of point-to-point ops ({@code step == null}).
 *
 * <p>Executing a communication action: post every op of the batch, sends first then receives, each in list order,
 * then wait until all have completed (Megatron's {@code batch_isend_irecv}; with a buffered communicator simply the
 * sends then the receives, in order). List order matters when two ops of a batch share a peer (PP = 2): it must be
 * kept so that the FIFO stream between two ranks matches on both ends.
 *
 * <p>The type of a communication action names the set of ops it contains: the single ops, Megatron's fused pairs
 * ({@code send_forward_recv_backward}, {@code send_backward_recv_forward}, {@code send_forward_recv_forward},
 * {@code send_backward_recv_backward}), and {@link Type#BATCH} for any other combination (Megatron's
 * {@code send_forward_backward_recv_forward_backward} with three or four active parts, or two sends / two receives).
 */
public record Action(Type type, PipelineStep step, List<P2pOp> ops) {

    public enum Type {
        FORWARD, BACKWARD,
        SEND_FORWARD, RECV_FORWARD, SEND_BACKWARD, RECV_BACKWARD,
        SEND_FORWARD_RECV_BACKWARD, SEND_BACKWARD_RECV_FORWARD,
        SEND_FORWARD_RECV_FORWARD, SEND_BACKWARD_RECV_BACKWARD,
        BATCH;

        public boolean isCompute() {
            return this == FORWARD || this == BACKWARD;
        }
    }

    public Action {
        if (type == null) {
            throw new IllegalArgumentException("type must not be null");
        }
        ops = ops == null ? List.of() : List.copyOf(ops);
        if (type.isCompute()) {
            if (step == null || !ops.isEmpty()) {
                throw new IllegalArgumentException(type + " action needs a step and no ops");
            }
            if (step.isForward() != (type == Type.FORWARD)) {
                throw new IllegalArgumentException(type + " action with step " + step);
            }
        } else {
            if (step != null || ops.isEmpty()) {
                throw new IllegalArgumentException(type + " action needs ops and no step");
            }
            Type derived = typeOf(ops);
            if (derived != type) {
                throw new IllegalArgumentException("ops " + ops + " make a " + derived + " action, not " + type);
            }
        }
    }

    public static Action compute(PipelineStep step) {
        return new Action(step.isForward() ? Type.FORWARD : Type.BACKWARD, step, List.of());
    }

    public static Action forward(int microbatch, int chunk) {
        return compute(PipelineStep.forward(microbatch, chunk));
    }

    public static Action backward(int microbatch, int chunk) {
        return compute(PipelineStep.backward(microbatch, chunk));
    }

    /** A batch of p2p ops, kept in the given order; its type is derived from the set of op kinds. */
    public static Action p2p(List<P2pOp> ops) {
        return new Action(typeOf(ops), null, ops);
    }

    public static Action p2p(P2pOp... ops) {
        return p2p(List.of(ops));
    }

    /** The type a batch with these ops gets. */
    public static Type typeOf(List<P2pOp> ops) {
        if (ops == null || ops.isEmpty()) {
            throw new IllegalArgumentException("a communication action needs at least one op");
        }
        Set<P2pOp.Kind> kinds = EnumSet.noneOf(P2pOp.Kind.class);
        for (P2pOp op : ops) {
            kinds.add(op.kind());
        }
        if (kinds.size() != ops.size()) {
            return Type.BATCH;
        }
        if (kinds.size() == 1) {
            return switch (kinds.iterator().next()) {
                case SEND_FORWARD -> Type.SEND_FORWARD;
                case RECV_FORWARD -> Type.RECV_FORWARD;
                case SEND_BACKWARD -> Type.SEND_BACKWARD;
                case RECV_BACKWARD -> Type.RECV_BACKWARD;
            };
        }
        if (kinds.equals(EnumSet.of(P2pOp.Kind.SEND_FORWARD, P2pOp.Kind.RECV_BACKWARD))) {
            return Type.SEND_FORWARD_RECV_BACKWARD;
        }
        if (kinds.equals(EnumSet.of(P2pOp.Kind.SEND_BACKWARD, P2pOp.Kind.RECV_FORWARD))) {
            return Type.SEND_BACKWARD_RECV_FORWARD;
        }
        if (kinds.equals(EnumSet.of(P2pOp.Kind.SEND_FORWARD, P2pOp.Kind.RECV_FORWARD))) {
            return Type.SEND_FORWARD_RECV_FORWARD;
        }
        if (kinds.equals(EnumSet.of(P2pOp.Kind.SEND_BACKWARD, P2pOp.Kind.RECV_BACKWARD))) {
            return Type.SEND_BACKWARD_RECV_BACKWARD;
        }
        return Type.BATCH;
    }

    public boolean isCompute() {
        return type.isCompute();
    }

    @Override
    public String toString() {
        return isCompute() ? step.toString() : type.name() + ops;
    }
}
