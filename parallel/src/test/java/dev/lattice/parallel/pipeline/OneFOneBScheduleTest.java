package dev.lattice.parallel.pipeline;

import static dev.lattice.parallel.pipeline.PipelineStep.backward;
import static dev.lattice.parallel.pipeline.PipelineStep.forward;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class OneFOneBScheduleTest {

    @Test
    void warmupCountsOfTheSpecExample() {
        // Spec §7.1: PP=4, M=8 -> W = 3, 2, 1, 0 for ranks 0..3.
        assertEquals(3, OneFOneBSchedule.warmup(4, 0, 8));
        assertEquals(2, OneFOneBSchedule.warmup(4, 1, 8));
        assertEquals(1, OneFOneBSchedule.warmup(4, 2, 8));
        assertEquals(0, OneFOneBSchedule.warmup(4, 3, 8));
        // W is capped at M.
        assertEquals(2, OneFOneBSchedule.warmup(4, 0, 2));
    }

    @Test
    void rankZeroSteps() {
        List<PipelineStep> expected = List.of(
                forward(0, 0), forward(1, 0), forward(2, 0),                  // warmup W=3
                forward(3, 0), backward(0, 0), forward(4, 0), backward(1, 0), // steady: F(i+3), B(i)
                forward(5, 0), backward(2, 0), forward(6, 0), backward(3, 0),
                forward(7, 0), backward(4, 0),
                backward(5, 0), backward(6, 0), backward(7, 0));              // cooldown
        assertEquals(expected, OneFOneBSchedule.steps(4, 0, 8));
    }

    @Test
    void lastRankSteps() {
        List<PipelineStep> expected = List.of(
                forward(0, 0), backward(0, 0), forward(1, 0), backward(1, 0),
                forward(2, 0), backward(2, 0), forward(3, 0), backward(3, 0),
                forward(4, 0), backward(4, 0), forward(5, 0), backward(5, 0),
                forward(6, 0), backward(6, 0), forward(7, 0), backward(7, 0));
        assertEquals(expected, OneFOneBSchedule.steps(4, 3, 8));
    }

    @Test
    void fewerMicrobatchesThanStages() {
        assertEquals(List.of(forward(0, 0), forward(1, 0), backward(0, 0), backward(1, 0)),
                OneFOneBSchedule.steps(4, 0, 2));
        assertEquals(List.of(forward(0, 0), forward(1, 0), backward(0, 0), backward(1, 0)),
                OneFOneBSchedule.steps(4, 1, 2));
        assertEquals(List.of(forward(0, 0), forward(1, 0), backward(0, 0), backward(1, 0)),
                OneFOneBSchedule.steps(4, 2, 2));
        assertEquals(List.of(forward(0, 0), backward(0, 0), forward(1, 0), backward(1, 0)),
                OneFOneBSchedule.steps(4, 3, 2));
    }

    @Test
    void forwardOnlyIsAllForwards() {
        assertEquals(List.of(forward(0, 0), forward(1, 0), forward(2, 0)), OneFOneBSchedule.forwardOnlySteps(4, 1, 3));
        List<Action> actions = OneFOneBSchedule.forwardOnlyActions(3, 1, 2);
        assertEquals(List.of(Action.Type.RECV_FORWARD, Action.Type.FORWARD, Action.Type.SEND_FORWARD,
                Action.Type.RECV_FORWARD, Action.Type.FORWARD, Action.Type.SEND_FORWARD), types(actions));
    }

    @Test
    void firstStageActionsFuseLikeMegatron() {
        // PP=2, M=3, rank 0 (W=1): F0 send_forward | F1 send_forward_recv_backward B0 | F2 sf_rb B1 | recv_backward B2
        List<Action> a = OneFOneBSchedule.actions(2, 0, 3);
        assertEquals(List.of(
                Action.forward(0, 0), Action.p2p(op(P2pOp.Kind.SEND_FORWARD, 0, 1)),
                Action.forward(1, 0),
                Action.p2p(op(P2pOp.Kind.SEND_FORWARD, 1, 1), op(P2pOp.Kind.RECV_BACKWARD, 0, 1)),
                Action.backward(0, 0),
                Action.forward(2, 0),
                Action.p2p(op(P2pOp.Kind.SEND_FORWARD, 2, 1), op(P2pOp.Kind.RECV_BACKWARD, 1, 1)),
                Action.backward(1, 0),
                Action.p2p(op(P2pOp.Kind.RECV_BACKWARD, 2, 1)),
                Action.backward(2, 0)), a);
        assertEquals(Action.Type.SEND_FORWARD_RECV_BACKWARD, a.get(3).type());
    }

    @Test
    void lastStageActionsFuseLikeMegatron() {
        // PP=2, M=3, rank 1 (W=0): recv_forward F0 B0 send_backward_recv_forward F1 B1 sb_rf F2 B2 send_backward
        List<Action> a = OneFOneBSchedule.actions(2, 1, 3);
        assertEquals(List.of(
                Action.p2p(op(P2pOp.Kind.RECV_FORWARD, 0, 0)),
                Action.forward(0, 0), Action.backward(0, 0),
                Action.p2p(op(P2pOp.Kind.SEND_BACKWARD, 0, 0), op(P2pOp.Kind.RECV_FORWARD, 1, 0)),
                Action.forward(1, 0), Action.backward(1, 0),
                Action.p2p(op(P2pOp.Kind.SEND_BACKWARD, 1, 0), op(P2pOp.Kind.RECV_FORWARD, 2, 0)),
                Action.forward(2, 0), Action.backward(2, 0),
                Action.p2p(op(P2pOp.Kind.SEND_BACKWARD, 2, 0))), a);
        assertEquals(Action.Type.SEND_BACKWARD_RECV_FORWARD, a.get(3).type());
    }

    @Test
    void middleStageUsesAllFourKinds() {
        List<Action.Type> t = types(OneFOneBSchedule.actions(3, 1, 3));
        // W=1: rf F sf | rf | F sf_rb B sb_rf | F sf_rb B sb | rb B sb
        assertEquals(List.of(Action.Type.RECV_FORWARD, Action.Type.FORWARD, Action.Type.SEND_FORWARD,
                Action.Type.RECV_FORWARD,
                Action.Type.FORWARD, Action.Type.SEND_FORWARD_RECV_BACKWARD, Action.Type.BACKWARD,
                Action.Type.SEND_BACKWARD_RECV_FORWARD,
                Action.Type.FORWARD, Action.Type.SEND_FORWARD_RECV_BACKWARD, Action.Type.BACKWARD,
                Action.Type.SEND_BACKWARD,
                Action.Type.RECV_BACKWARD, Action.Type.BACKWARD, Action.Type.SEND_BACKWARD), t);
    }

    @Test
    void actionsComputeTheSameSteps() {
        for (int pp = 1; pp <= 5; pp++) {
            for (int m = 1; m <= 11; m++) {
                for (int r = 0; r < pp; r++) {
                    assertEquals(OneFOneBSchedule.steps(pp, r, m),
                            PipelineActions.computeSteps(OneFOneBSchedule.actions(pp, r, m)));
                }
            }
        }
    }

    @Test
    void singleStageHasNoCommunication() {
        List<Action> a = OneFOneBSchedule.actions(1, 0, 3);
        assertTrue(a.stream().allMatch(Action::isCompute));
        assertEquals(List.of(forward(0, 0), backward(0, 0), forward(1, 0), backward(1, 0), forward(2, 0),
                backward(2, 0)), PipelineActions.computeSteps(a));
    }

    @Test
    void rejectsBadArguments() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> OneFOneBSchedule.steps(4, 4, 8)).getMessage()
                .contains("rank=4"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> OneFOneBSchedule.steps(4, 0, 0)).getMessage()
                .contains("M=0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> OneFOneBSchedule.steps(0, 0, 8)).getMessage()
                .contains("PP=0"));
    }

    /** An op of rank 0/1 in a PP=2, V=1 pipeline; peers are the other rank, chunk 0. */
    private static P2pOp op(P2pOp.Kind kind, int mb, int peer) {
        return new P2pOp(kind, mb, 0, peer, 0);
    }

    static List<Action.Type> types(List<Action> actions) {
        return actions.stream().map(Action::type).toList();
    }
}
