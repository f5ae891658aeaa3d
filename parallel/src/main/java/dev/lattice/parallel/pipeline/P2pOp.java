package dev.lattice.parallel.pipeline;

/**
 * One point-to-point transfer of a pipeline rank.
 *
 * <p>{@code chunk} is always the LOCAL model chunk the tensor belongs to: for {@code SEND_FORWARD} the output
 * activation of the local forward {@code (microbatch, chunk)}; for {@code RECV_FORWARD} the input activation of that
 * local forward; for {@code SEND_BACKWARD} the input gradient produced by the local backward {@code (microbatch,
 * chunk)}; for {@code RECV_BACKWARD} the output gradient that local backward consumes. {@code (peerRank, peerChunk)}
 * is the neighbouring virtual stage: the next one for SEND_FORWARD / RECV_BACKWARD, the previous one for
 * RECV_FORWARD / SEND_BACKWARD. The microbatch is the same on both ends.
 */
public record P2pOp(Kind kind, int microbatch, int chunk, int peerRank, int peerChunk) {

    /** Declared in the order ops are listed inside one batched {@link Action}. */
    public enum Kind {
        SEND_FORWARD, SEND_BACKWARD, RECV_FORWARD, RECV_BACKWARD;

        public boolean isSend() {
            return this == SEND_FORWARD || this == SEND_BACKWARD;
        }

        /** True for activations (forward direction), false for gradients. */
        public boolean isActivation() {
            return this == SEND_FORWARD || this == RECV_FORWARD;
        }

        /** The op the peer must post for this one. */
        public Kind counterpart() {
            return switch (this) {
                case SEND_FORWARD -> RECV_FORWARD;
                case RECV_FORWARD -> SEND_FORWARD;
                case SEND_BACKWARD -> RECV_BACKWARD;
                case RECV_BACKWARD -> SEND_BACKWARD;
            };
        }
    }

    public P2pOp {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        if (microbatch < 0 || chunk < 0 || peerRank < 0 || peerChunk < 0) {
            throw new IllegalArgumentException("negative field in P2pOp(" + kind + ", mb=" + microbatch + ", chunk="
                    + chunk + ", peerRank=" + peerRank + ", peerChunk=" + peerChunk + ")");
        }
    }

    /** Output activation of local forward (mb, chunk) to the next virtual stage. */
    public static P2pOp sendForward(int pp, int chunks, int rank, int microbatch, int chunk) {
        if (VirtualStages.isLast(pp, chunks, rank, chunk)) {
            throw new IllegalArgumentException("the last virtual stage (rank " + rank + ", chunk " + chunk
                    + ") never sends activations forward");
        }
        return new P2pOp(Kind.SEND_FORWARD, microbatch, chunk, VirtualStages.nextRank(pp, rank),
                VirtualStages.nextChunk(pp, rank, chunk));
    }

    /** Input activation of local forward (mb, chunk) from the previous virtual stage. */
    public static P2pOp recvForward(int pp, int rank, int microbatch, int chunk) {
        if (VirtualStages.isFirst(rank, chunk)) {
            throw new IllegalArgumentException("the first virtual stage (rank 0, chunk 0) never receives activations");
        }
        return new P2pOp(Kind.RECV_FORWARD, microbatch, chunk, VirtualStages.prevRank(pp, rank),
                VirtualStages.prevChunk(pp, rank, chunk));
    }

    /** Input gradient produced by local backward (mb, chunk) to the previous virtual stage. */
    public static P2pOp sendBackward(int pp, int rank, int microbatch, int chunk) {
        if (VirtualStages.isFirst(rank, chunk)) {
            throw new IllegalArgumentException("the first virtual stage (rank 0, chunk 0) never sends gradients");
        }
        return new P2pOp(Kind.SEND_BACKWARD, microbatch, chunk, VirtualStages.prevRank(pp, rank),
                VirtualStages.prevChunk(pp, rank, chunk));
    }

    /** Output gradient for local backward (mb, chunk) from the next virtual stage. */
    public static P2pOp recvBackward(int pp, int chunks, int rank, int microbatch, int chunk) {
        if (VirtualStages.isLast(pp, chunks, rank, chunk)) {
            throw new IllegalArgumentException("the last virtual stage (rank " + rank + ", chunk " + chunk
                    + ") computes the loss and receives no gradient");
        }
        return new P2pOp(Kind.RECV_BACKWARD, microbatch, chunk, VirtualStages.nextRank(pp, rank),
                VirtualStages.nextChunk(pp, rank, chunk));
    }

    @Override
    public String toString() {
        String arrow = kind.isSend() ? "->" : "<-";
        return kind + "(mb=" + microbatch + ",c=" + chunk + ")" + arrow + "rank" + peerRank + "/c" + peerChunk;
    }
}
