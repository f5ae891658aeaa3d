package dev.lattice.parallel.pipeline;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lattice.parallel.pipeline.ScheduleSimulator.Channels;
import dev.lattice.parallel.pipeline.ScheduleSimulator.DeadlockException;
import dev.lattice.parallel.pipeline.ScheduleSimulator.Delivery;
import dev.lattice.parallel.pipeline.ScheduleSimulator.Options;
import dev.lattice.parallel.pipeline.ScheduleSimulator.ViolationException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

class ScheduleSimulatorTest {

    private static final List<Options> ALL_MODES = List.of(
            Options.DEFAULT,
            Options.DEFAULT.withChannels(Channels.PER_PEER_AND_KIND),
            Options.DEFAULT.withDelivery(Delivery.RENDEZVOUS),
            Options.DEFAULT.withDelivery(Delivery.RENDEZVOUS).withChannels(Channels.PER_PEER_AND_KIND));

    @Test
    void oneFOneBCompletesOverTheGrid() {
        int runs = 0;
        for (int pp = 1; pp <= 4; pp++) {
            for (int m = 1; m <= 3 * pp + 2; m++) {
                int fpp = pp;
                int fm = m;
                for (Options o : ALL_MODES) {
                    assertDoesNotThrow(() -> ScheduleSimulator.run(fpp, fm, 1,
                            ranks(fpp, r -> OneFOneBSchedule.actions(fpp, r, fm)), o), "PP=" + pp + " M=" + m + " " + o);
                    assertDoesNotThrow(() -> ScheduleSimulator.run(fpp, fm, 1,
                            ranks(fpp, r -> OneFOneBSchedule.forwardOnlyActions(fpp, r, fm)), o.withForwardOnly(true)));
                    runs += 2;
                }
            }
        }
        assertEquals(4 * 2 * (5 + 8 + 11 + 14), runs);
    }

    @Test
    void interleavedCompletesOverTheGrid() {
        for (int pp = 2; pp <= 4; pp++) {
            for (int v = 1; v <= 3; v++) {
                List<int[]> mAndN = new ArrayList<>();
                mAndN.add(new int[] {pp, pp});
                mAndN.add(new int[] {2 * pp, pp});
                mAndN.add(new int[] {3 * pp, pp});
                mAndN.add(new int[] {3 * pp, pp + 1});        // 3PP mod (PP+1) = PP-2 (0 at PP=2): skipped where invalid
                mAndN.add(new int[] {2 * pp + 1, pp + 1});    // M = 2N - 1: remainder N - 1 = PP, valid
                mAndN.add(new int[] {3 * pp, 3 * pp});         // one group holding all microbatches
                for (int[] mn : mAndN) {
                    int m = mn[0];
                    int n = mn[1];
                    int rem = m % n;
                    if (rem != 0 && rem < pp) {
                        continue;
                    }
                    int fpp = pp;
                    int fv = v;
                    for (Options o : ALL_MODES) {
                        String what = "PP=" + pp + " V=" + v + " M=" + m + " N=" + n + " " + o;
                        assertDoesNotThrow(() -> ScheduleSimulator.run(fpp, m, fv,
                                ranks(fpp, r -> InterleavedSchedule.actions(fpp, r, m, fv, n)), o), what);
                        assertDoesNotThrow(() -> ScheduleSimulator.run(fpp, m, fv,
                                ranks(fpp, r -> InterleavedSchedule.forwardOnlyActions(fpp, r, m, fv, n)),
                                o.withForwardOnly(true)), what + " forward-only");
                    }
                    // The un-fused dataflow derivation of the same steps also works with buffered sends, provided
                    // activations and gradients travel on separate channels (at PP=2 they share a rank pair).
                    assertDoesNotThrow(() -> ScheduleSimulator.run(fpp, m, fv, ranks(fpp,
                            r -> PipelineActions.fromSteps(fpp, r, fv, InterleavedSchedule.steps(fpp, r, m, fv, n))),
                            Options.DEFAULT.withChannels(Channels.PER_PEER_AND_KIND)));
                }
            }
        }
    }

    @Test
    void swappingTwoStepsOnOneRankDeadlocks() {
        // 1F1B, PP=4, M=8. Rank 0 normally runs F0 F1 F2 F3 B0 ...; swapping F2 and B0 makes rank 0 wait for the
        // gradient of mb 0 before it sends mb 2, while rank 1 (W=2) needs mb 2 before it can run B0.
        int pp = 4;
        int m = 8;
        List<List<Action>> programs = new ArrayList<>();
        for (int r = 0; r < pp; r++) {
            List<PipelineStep> steps = new ArrayList<>(OneFOneBSchedule.steps(pp, r, m));
            if (r == 0) {
                assertEquals(PipelineStep.forward(2, 0), steps.get(2));
                assertEquals(PipelineStep.backward(0, 0), steps.get(4));
                Collections.swap(steps, 2, 4);
            }
            programs.add(PipelineActions.fromSteps(pp, r, 1, steps));
        }
        DeadlockException e = assertThrows(DeadlockException.class, () -> ScheduleSimulator.run(pp, m, 1, programs));
        assertEquals(List.of(0, 1, 2, 3), e.blockedRanks());
        assertTrue(e.getMessage().contains("rank 0 at action"), e.getMessage());
        assertTrue(e.getMessage().contains("waits on RECV_BACKWARD(mb=0,c=0)<-rank1/c0"), e.getMessage());
        assertTrue(e.getMessage().contains("waits on RECV_FORWARD(mb=2,c=0)<-rank0/c0"), e.getMessage());
    }

    @Test
    void swappingTwoInterleavedStepsDeadlocks() {
        // PP=4, V=2, M=8, N=4. Rank 0 runs F(4,0) as its 9th warmup forward (index 8) and its first backward B(0,1)
        // at index 11. Swapping them makes rank 0 wait for the gradient of (0, chunk 1) before sending (4,0); rank 1
        // (W=8) runs F(4,0) right before B(0,1), so it can never produce that gradient.
        int pp = 4;
        int m = 8;
        int v = 2;
        List<List<Action>> programs = new ArrayList<>();
        for (int r = 0; r < pp; r++) {
            List<PipelineStep> steps = new ArrayList<>(InterleavedSchedule.steps(pp, r, m, v));
            if (r == 0) {
                assertEquals(PipelineStep.forward(4, 0), steps.get(8));
                assertEquals(PipelineStep.backward(0, 1), steps.get(11));
                Collections.swap(steps, 8, 11);
            }
            programs.add(PipelineActions.fromSteps(pp, r, v, steps));
        }
        DeadlockException e = assertThrows(DeadlockException.class,
                () -> ScheduleSimulator.run(pp, m, v, programs, Options.DEFAULT.withChannels(Channels.PER_PEER_AND_KIND)));
        assertTrue(e.blockedRanks().containsAll(List.of(0, 1)), e.getMessage());
        assertTrue(e.getMessage().contains("waits on RECV_BACKWARD(mb=0,c=1)<-rank1/c1"), e.getMessage());
        assertTrue(e.getMessage().contains("waits on RECV_FORWARD(mb=4,c=0)<-rank0/c0"), e.getMessage());
        // The unmodified steps complete.
        assertDoesNotThrow(() -> ScheduleSimulator.run(pp, m, v, ranks(pp,
                r -> PipelineActions.fromSteps(pp, r, v, InterleavedSchedule.steps(pp, r, m, v)))));
    }

    @Test
    void unfusedSingleSendsDeadlockUnderRendezvousButFusedOnesDoNot() {
        int pp = 4;
        int m = 8;
        List<List<Action>> unfused = ranks(pp, r -> PipelineActions.fromSteps(pp, r, 1, OneFOneBSchedule.steps(pp, r, m)));
        assertDoesNotThrow(() -> ScheduleSimulator.run(pp, m, 1, unfused));
        Options rendezvous = Options.DEFAULT.withDelivery(Delivery.RENDEZVOUS);
        DeadlockException e = assertThrows(DeadlockException.class,
                () -> ScheduleSimulator.run(pp, m, 1, unfused, rendezvous));
        assertEquals(List.of(0, 1, 2, 3), e.blockedRanks());
        assertDoesNotThrow(() -> ScheduleSimulator.run(pp, m, 1, ranks(pp, r -> OneFOneBSchedule.actions(pp, r, m)),
                rendezvous));
    }

    @Test
    void megatronBatchOrderNeedsTaggedChannelsAtPp2() {
        // Megatron posts [send_prev(grad), recv_prev(act), send_next(act), recv_next(grad)]. With PP=2 both
        // neighbours are the same rank, so an untagged FIFO delivers the gradient where the activation is expected:
        // this is why HEAD requires PP > 2 for interleaving without overlap_p2p_comm.
        int pp = 2;
        int m = 4;
        int v = 2;
        List<P2pOp.Kind> megatronOrder = List.of(P2pOp.Kind.SEND_BACKWARD, P2pOp.Kind.RECV_FORWARD,
                P2pOp.Kind.SEND_FORWARD, P2pOp.Kind.RECV_BACKWARD);
        List<List<Action>> programs = ranks(pp, r -> {
            List<Action> out = new ArrayList<>();
            for (Action a : InterleavedSchedule.actions(pp, r, m, v)) {
                if (a.isCompute()) {
                    out.add(a);
                } else {
                    List<P2pOp> ops = new ArrayList<>(a.ops());
                    ops.sort(Comparator.comparingInt(op -> megatronOrder.indexOf(op.kind())));
                    out.add(Action.p2p(ops));
                }
            }
            return out;
        });
        ViolationException e = assertThrows(ViolationException.class,
                () -> ScheduleSimulator.run(pp, m, v, programs));
        assertTrue(e.getMessage().contains("message mismatch"), e.getMessage());
        assertDoesNotThrow(() -> ScheduleSimulator.run(pp, m, v, programs,
                Options.DEFAULT.withChannels(Channels.PER_PEER_AND_KIND)));
        // Our canonical order (activations before gradients on both ends) works untagged.
        assertDoesNotThrow(() -> ScheduleSimulator.run(pp, m, v, ranks(pp, r -> InterleavedSchedule.actions(pp, r, m, v))));
    }

    @Test
    void backwardBeforeForwardIsAViolation() {
        List<List<Action>> programs = ranks(2, r -> OneFOneBSchedule.actions(2, r, 2));
        List<Action> last = new ArrayList<>(programs.get(1));
        // rank 1: RF0 F0 B0 ... -> RF0 B0 F0 ...
        Collections.swap(last, 1, 2);
        programs = new ArrayList<>(programs);
        programs.set(1, last);
        List<List<Action>> broken = programs;
        ViolationException e = assertThrows(ViolationException.class, () -> ScheduleSimulator.run(2, 2, 1, broken));
        assertTrue(e.getMessage().contains("rank 1") && e.getMessage().contains("backward before its forward"),
                e.getMessage());
    }

    @Test
    void sendOrderMismatchIsAViolation() {
        // rank 0 sends mb 1 before mb 0 on the same channel: rank 1 expects mb 0 first.
        List<List<Action>> programs = ranks(2, r -> PipelineActions.fromSteps(2, r, 1, OneFOneBSchedule.steps(2, r, 2)));
        List<PipelineStep> rank0 = List.of(PipelineStep.forward(1, 0), PipelineStep.forward(0, 0),
                PipelineStep.backward(0, 0), PipelineStep.backward(1, 0));
        List<List<Action>> broken = List.of(PipelineActions.fromSteps(2, 0, 1, rank0), programs.get(1));
        ViolationException e = assertThrows(ViolationException.class, () -> ScheduleSimulator.run(2, 2, 1, broken));
        assertTrue(e.getMessage().contains("message mismatch"), e.getMessage());
    }

    @Test
    void missingAndDuplicatedWorkIsAViolation() {
        List<List<Action>> programs = new ArrayList<>(ranks(2, r -> OneFOneBSchedule.actions(2, r, 2)));
        List<List<Action>> fewer = new ArrayList<>(programs);
        // rank 0 without its final "recv_backward, B1": rank 1's last gradient is never received, B1 never runs.
        List<Action> rank0 = OneFOneBSchedule.actions(2, 0, 2);
        fewer.set(0, rank0.subList(0, rank0.size() - 2));
        ViolationException missing = assertThrows(ViolationException.class,
                () -> ScheduleSimulator.run(2, 2, 1, fewer));
        assertTrue(missing.getMessage().contains("never backwarded"), missing.getMessage());

        List<List<Action>> twice = new ArrayList<>(programs);
        List<Action> rank1 = new ArrayList<>(programs.get(1));
        rank1.add(Action.forward(0, 0));
        twice.set(1, rank1);
        ViolationException dup = assertThrows(ViolationException.class, () -> ScheduleSimulator.run(2, 2, 1, twice));
        assertTrue(dup.getMessage().contains("forwarded twice"), dup.getMessage());
    }

    @Test
    void wrongPeerIsRejectedBeforeSimulating() {
        List<List<Action>> programs = new ArrayList<>(ranks(3, r -> OneFOneBSchedule.actions(3, r, 3)));
        List<Action> rank0 = new ArrayList<>(programs.get(0));
        // rank 0's first send goes to rank 2 instead of rank 1.
        assertEquals(Action.Type.SEND_FORWARD, rank0.get(1).type());
        rank0.set(1, Action.p2p(new P2pOp(P2pOp.Kind.SEND_FORWARD, 0, 0, 2, 0)));
        programs.set(0, rank0);
        ViolationException e = assertThrows(ViolationException.class, () -> ScheduleSimulator.run(3, 3, 1, programs));
        assertTrue(e.getMessage().contains("must address rank 1 chunk 0"), e.getMessage());
    }

    @Test
    void lastStageReceivingAGradientIsRejected() {
        List<List<Action>> programs = new ArrayList<>(ranks(2, r -> OneFOneBSchedule.actions(2, r, 1)));
        List<Action> rank1 = new ArrayList<>(programs.get(1));
        rank1.add(0, Action.p2p(new P2pOp(P2pOp.Kind.RECV_BACKWARD, 0, 0, 0, 1)));
        programs.set(1, rank1);
        ViolationException e = assertThrows(ViolationException.class, () -> ScheduleSimulator.run(2, 1, 1, programs));
        assertTrue(e.getMessage().contains("last virtual stage"), e.getMessage());
    }

    @Test
    void wrongNumberOfRanksIsRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> ScheduleSimulator.run(3, 2, 1, ranks(2, r -> OneFOneBSchedule.actions(2, r, 2))));
    }

    private static List<List<Action>> ranks(int pp, IntFunction<List<Action>> perRank) {
        List<List<Action>> out = new ArrayList<>();
        for (int r = 0; r < pp; r++) {
            out.add(perRank.apply(r));
        }
        return out;
    }
}
