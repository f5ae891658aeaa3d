package dev.lattice.parallel.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class ActionTest {

    private static final P2pOp SF = new P2pOp(P2pOp.Kind.SEND_FORWARD, 0, 0, 1, 0);
    private static final P2pOp SB = new P2pOp(P2pOp.Kind.SEND_BACKWARD, 0, 0, 0, 0);
    private static final P2pOp RF = new P2pOp(P2pOp.Kind.RECV_FORWARD, 1, 0, 0, 0);
    private static final P2pOp RB = new P2pOp(P2pOp.Kind.RECV_BACKWARD, 0, 0, 2, 0);

    @Test
    void typeNamesTheFusedPairs() {
        assertEquals(Action.Type.SEND_FORWARD, Action.p2p(SF).type());
        assertEquals(Action.Type.RECV_BACKWARD, Action.p2p(RB).type());
        assertEquals(Action.Type.SEND_FORWARD_RECV_BACKWARD, Action.p2p(SF, RB).type());
        assertEquals(Action.Type.SEND_BACKWARD_RECV_FORWARD, Action.p2p(SB, RF).type());
        assertEquals(Action.Type.SEND_FORWARD_RECV_FORWARD, Action.p2p(SF, RF).type());
        assertEquals(Action.Type.SEND_BACKWARD_RECV_BACKWARD, Action.p2p(SB, RB).type());
        assertEquals(Action.Type.BATCH, Action.p2p(SF, SB, RF, RB).type());
        assertEquals(Action.Type.BATCH, Action.p2p(SF, SB).type());
        assertEquals(List.of(RB, SF), Action.p2p(RB, SF).ops(), "op order is kept");
    }

    @Test
    void inconsistentActionsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Action(Action.Type.SEND_FORWARD, null, List.of(RB)));
        assertThrows(IllegalArgumentException.class,
                () -> new Action(Action.Type.FORWARD, PipelineStep.backward(0, 0), List.of()));
        assertThrows(IllegalArgumentException.class, () -> Action.p2p(List.of()));
        assertThrows(IllegalArgumentException.class, () -> PipelineStep.forward(-1, 0));
    }

    @Test
    void factoriesComputeVirtualNeighbours() {
        // PP=4, V=2: rank 3 chunk 0 -> next is rank 0 chunk 1; rank 0 chunk 1 <- prev is rank 3 chunk 0.
        assertEquals(new P2pOp(P2pOp.Kind.SEND_FORWARD, 5, 0, 0, 1), P2pOp.sendForward(4, 2, 3, 5, 0));
        assertEquals(new P2pOp(P2pOp.Kind.RECV_FORWARD, 5, 1, 3, 0), P2pOp.recvForward(4, 0, 5, 1));
        assertEquals(new P2pOp(P2pOp.Kind.SEND_BACKWARD, 5, 1, 3, 0), P2pOp.sendBackward(4, 0, 5, 1));
        assertEquals(new P2pOp(P2pOp.Kind.RECV_BACKWARD, 5, 0, 0, 1), P2pOp.recvBackward(4, 2, 3, 5, 0));
        assertThrows(IllegalArgumentException.class, () -> P2pOp.sendForward(4, 2, 3, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> P2pOp.recvBackward(4, 2, 3, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> P2pOp.recvForward(4, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> P2pOp.sendBackward(4, 0, 0, 0));
        assertEquals(6, VirtualStages.virtualStage(4, 2, 1));
    }
}
