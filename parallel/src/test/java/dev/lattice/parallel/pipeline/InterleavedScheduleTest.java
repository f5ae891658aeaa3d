package dev.lattice.parallel.pipeline;

import static dev.lattice.parallel.pipeline.PipelineStep.backward;
import static dev.lattice.parallel.pipeline.PipelineStep.forward;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lattice.parallel.pipeline.InterleavedSchedule.Entry;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InterleavedScheduleTest {

    @Test
    void scheduleTableGroupsOfN() {
        // M=8, V=2, N=4: group [0..3] for chunk 0 then chunk 1, then group [4..7] likewise.
        assertEquals(List.of(
                e(0, 0), e(1, 0), e(2, 0), e(3, 0), e(0, 1), e(1, 1), e(2, 1), e(3, 1),
                e(4, 0), e(5, 0), e(6, 0), e(7, 0), e(4, 1), e(5, 1), e(6, 1), e(7, 1)),
                InterleavedSchedule.scheduleTable(8, 2, 4));
    }

    @Test
    void scheduleTableLastGroupTakesTheRemainder() {
        // M=8, N=3: groups [0,1,2], [3,4,5], [6,7] (6+3 >= 8 -> last group).
        assertEquals(List.of(
                e(0, 0), e(1, 0), e(2, 0), e(0, 1), e(1, 1), e(2, 1),
                e(3, 0), e(4, 0), e(5, 0), e(3, 1), e(4, 1), e(5, 1),
                e(6, 0), e(7, 0), e(6, 1), e(7, 1)),
                InterleavedSchedule.scheduleTable(8, 2, 3));
        // M=5, N=3: 3+3 >= 5, so the second group is [3,4].
        assertEquals(List.of(e(0, 0), e(1, 0), e(2, 0), e(0, 1), e(1, 1), e(2, 1), e(3, 0), e(4, 0), e(3, 1),
                e(4, 1)), InterleavedSchedule.scheduleTable(5, 2, 3));
    }

    @Test
    void withDefaultGroupSizeTheTableIsTheClassicFormula() {
        for (int pp = 2; pp <= 4; pp++) {
            for (int v = 1; v <= 3; v++) {
                List<Entry> table = InterleavedSchedule.scheduleTable(3 * pp, v, pp);
                for (int k = 0; k < table.size(); k++) {
                    assertEquals((k % (pp * v)) / pp, table.get(k).chunk(), "k=" + k);
                }
            }
        }
    }

    @Test
    void warmupOfTheSpecExample() {
        // Spec §7.2: PP=4, V=2, M=8, N=4 -> W = 2(PP-rank-1) + (V-1)N = 10, 8, 6, 4.
        assertEquals(10, InterleavedSchedule.warmup(4, 0, 8, 2, 4));
        assertEquals(8, InterleavedSchedule.warmup(4, 1, 8, 2, 4));
        assertEquals(6, InterleavedSchedule.warmup(4, 2, 8, 2, 4));
        assertEquals(4, InterleavedSchedule.warmup(4, 3, 8, 2, 4));
        for (int r = 0; r < 4; r++) {
            assertFalse(InterleavedSchedule.allWarmup(4, r, 8, 2, 4));
        }
    }

    @Test
    void rankZeroStepsOfTheSpecExample() {
        // PP=4, V=2, M=8, N=4, rank 0, W=10. Table (see scheduleTableGroupsOfN):
        //   k : 0..3 -> (0..3, c0), 4..7 -> (0..3, c1), 8..11 -> (4..7, c0), 12..15 -> (4..7, c1).
        // Warmup = forwards table[0..9] = (0,0)(1,0)(2,0)(3,0)(0,1)(1,1)(2,1)(3,1)(4,0)(5,0).
        // Steady k=0..5: forward table[k+10], backward k = (table[k].mb, V-1-table[k].chunk):
        //   F(6,0) B(0,1) | F(7,0) B(1,1) | F(4,1) B(2,1) | F(5,1) B(3,1) | F(6,1) B(0,0) | F(7,1) B(1,0)
        // So the forward after (5,0) is (6,0): table[10] opens the steady state, paired with backward (0, chunk 1).
        // Cooldown k=6..15: table[6..15] with chunks flipped:
        //   B(2,0) B(3,0) B(4,1) B(5,1) B(6,1) B(7,1) B(4,0) B(5,0) B(6,0) B(7,0).
        List<PipelineStep> expected = List.of(
                forward(0, 0), forward(1, 0), forward(2, 0), forward(3, 0),
                forward(0, 1), forward(1, 1), forward(2, 1), forward(3, 1),
                forward(4, 0), forward(5, 0),
                forward(6, 0), backward(0, 1), forward(7, 0), backward(1, 1),
                forward(4, 1), backward(2, 1), forward(5, 1), backward(3, 1),
                forward(6, 1), backward(0, 0), forward(7, 1), backward(1, 0),
                backward(2, 0), backward(3, 0), backward(4, 1), backward(5, 1),
                backward(6, 1), backward(7, 1), backward(4, 0), backward(5, 0), backward(6, 0), backward(7, 0));
        assertEquals(expected, InterleavedSchedule.steps(4, 0, 8, 2, 4));
        assertEquals(expected, InterleavedSchedule.steps(4, 0, 8, 2), "N defaults to PP");
    }

    @Test
    void lastRankStepsOfTheSpecExample() {
        // rank 3, W=4: forwards table[0..3]; steady k=0..11 pairs F table[k+4] with backward k; cooldown 12..15.
        List<PipelineStep> expected = List.of(
                forward(0, 0), forward(1, 0), forward(2, 0), forward(3, 0),
                forward(0, 1), backward(0, 1), forward(1, 1), backward(1, 1),
                forward(2, 1), backward(2, 1), forward(3, 1), backward(3, 1),
                forward(4, 0), backward(0, 0), forward(5, 0), backward(1, 0),
                forward(6, 0), backward(2, 0), forward(7, 0), backward(3, 0),
                forward(4, 1), backward(4, 1), forward(5, 1), backward(5, 1),
                forward(6, 1), backward(6, 1), forward(7, 1), backward(7, 1),
                backward(4, 0), backward(5, 0), backward(6, 0), backward(7, 0));
        assertEquals(expected, InterleavedSchedule.steps(4, 3, 8, 2, 4));
    }

    @Test
    void allWarmupWhenWarmupReachesMTimesV() {
        // PP=4, V=2, M=4, N=4: raw W = 10, 8, 6, 4 against M·V = 8 -> ranks 0 and 1 are all-warmup.
        assertTrue(InterleavedSchedule.allWarmup(4, 0, 4, 2, 4));
        assertTrue(InterleavedSchedule.allWarmup(4, 1, 4, 2, 4));
        assertFalse(InterleavedSchedule.allWarmup(4, 2, 4, 2, 4));
        assertEquals(8, InterleavedSchedule.warmup(4, 0, 4, 2, 4));
        assertEquals(8, InterleavedSchedule.warmup(4, 1, 4, 2, 4));
        assertEquals(6, InterleavedSchedule.warmup(4, 2, 4, 2, 4));
        List<PipelineStep> expected = List.of(
                forward(0, 0), forward(1, 0), forward(2, 0), forward(3, 0),
                forward(0, 1), forward(1, 1), forward(2, 1), forward(3, 1),
                backward(0, 1), backward(1, 1), backward(2, 1), backward(3, 1),
                backward(0, 0), backward(1, 0), backward(2, 0), backward(3, 0));
        assertEquals(expected, InterleavedSchedule.steps(4, 0, 4, 2, 4));
        assertEquals(expected, InterleavedSchedule.steps(4, 1, 4, 2, 4));
        // rank 2 (W=6) is not: forward table[6] = (2,1) pairs with backward (0,1).
        List<PipelineStep> rank2 = InterleavedSchedule.steps(4, 2, 4, 2, 4);
        assertEquals(List.of(forward(2, 1), backward(0, 1)), rank2.subList(6, 8));
    }

    @Test
    void forwardOnlyRunsAllForwardsInTableOrder() {
        List<PipelineStep> expected = new ArrayList<>();
        for (Entry e : InterleavedSchedule.scheduleTable(8, 2, 4)) {
            expected.add(forward(e.microbatch(), e.chunk()));
        }
        for (int r = 0; r < 4; r++) {
            assertEquals(expected, InterleavedSchedule.forwardOnlySteps(4, r, 8, 2, 4));
        }
    }

    @Test
    void everyRankRunsEveryMicrobatchChunkOnceEachWay() {
        for (int pp = 2; pp <= 4; pp++) {
            for (int v = 1; v <= 3; v++) {
                for (int m : new int[] {pp, 2 * pp, 3 * pp}) {
                    for (int r = 0; r < pp; r++) {
                        List<PipelineStep> s = InterleavedSchedule.steps(pp, r, m, v);
                        assertEquals(2 * m * v, s.size());
                        assertEquals(2 * m * v, s.stream().distinct().count());
                    }
                }
            }
        }
    }

    @Test
    void firstRankNeverReceivesChunkZeroActivationsAndLastStageNeverSendsForward() {
        for (int pp = 2; pp <= 4; pp++) {
            for (int v = 1; v <= 3; v++) {
                for (int r = 0; r < pp; r++) {
                    for (Action a : InterleavedSchedule.actions(pp, r, 2 * pp, v)) {
                        for (P2pOp op : a.ops()) {
                            if (op.kind() == P2pOp.Kind.RECV_FORWARD || op.kind() == P2pOp.Kind.SEND_BACKWARD) {
                                assertFalse(r == 0 && op.chunk() == 0, a.toString());
                            } else {
                                assertFalse(r == pp - 1 && op.chunk() == v - 1, a.toString());
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void wrapAroundPeersOfTheFirstAndLastRank() {
        List<Action> rank0 = InterleavedSchedule.actions(4, 0, 8, 2, 4);
        // rank 0 receives chunk 1's input from chunk 0 on rank 3 (k=3: the last rank's forward 0 is done).
        Action a = rank0.get(7);
        assertEquals(Action.Type.SEND_FORWARD_RECV_FORWARD, a.type());
        assertEquals(List.of(new P2pOp(P2pOp.Kind.SEND_FORWARD, 3, 0, 1, 0),
                new P2pOp(P2pOp.Kind.RECV_FORWARD, 0, 1, 3, 0)), a.ops());
        // rank 3 sends chunk 0's activations to chunk 1 on rank 0 and receives chunk 0's gradients from there.
        List<Action> rank3 = InterleavedSchedule.actions(4, 3, 8, 2, 4);
        assertEquals(List.of(new P2pOp(P2pOp.Kind.SEND_FORWARD, 0, 0, 0, 1),
                new P2pOp(P2pOp.Kind.RECV_FORWARD, 1, 0, 2, 0)), rank3.get(2).ops());
        assertTrue(rank3.stream().flatMap(x -> x.ops().stream()).anyMatch(
                op -> op.equals(new P2pOp(P2pOp.Kind.RECV_BACKWARD, 0, 0, 0, 1))));
    }

    @Test
    void steadyStateUsesTheFourWayBatch() {
        List<Action> rank1 = InterleavedSchedule.actions(4, 1, 8, 2, 4);
        // The last warmup step already is a batch: send_forward + recv_forward + recv_backward (no gradient yet).
        Action lastWarmup = rank1.stream().filter(x -> x.type() == Action.Type.BATCH).findFirst().orElseThrow();
        assertEquals(List.of(P2pOp.Kind.SEND_FORWARD, P2pOp.Kind.RECV_FORWARD, P2pOp.Kind.RECV_BACKWARD),
                lastWarmup.ops().stream().map(P2pOp::kind).toList());
        Action batch = rank1.stream().filter(x -> x.ops().size() == 4).findFirst().orElseThrow();
        assertEquals(Action.Type.BATCH, batch.type());
        assertEquals(List.of(P2pOp.Kind.SEND_FORWARD, P2pOp.Kind.SEND_BACKWARD, P2pOp.Kind.RECV_FORWARD,
                P2pOp.Kind.RECV_BACKWARD), batch.ops().stream().map(P2pOp::kind).toList());
    }

    @Test
    void rejectsMNotAMultipleOfPpWithDefaultGroupSize() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InterleavedSchedule.steps(4, 0, 6, 2));
        assertTrue(e.getMessage().contains("M mod N must be 0 or >= PP"), e.getMessage());
        assertTrue(e.getMessage().contains("M=6") && e.getMessage().contains("N=4")
                && e.getMessage().contains("PP=4") && e.getMessage().contains("M mod N=2"), e.getMessage());
        assertTrue(e.getMessage().contains("M % PP == 0"), e.getMessage());
    }

    @Test
    void rejectsPpOneForInterleaving() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InterleavedSchedule.steps(1, 0, 4, 2, 1));
        assertTrue(e.getMessage().contains("PP > 1") && e.getMessage().contains("PP=1"), e.getMessage());
    }

    @Test
    void rejectsGroupSizeOutsidePpToM() {
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> InterleavedSchedule.steps(4, 0, 8, 2, 3));
        assertTrue(small.getMessage().contains("PP <= N <= M") && small.getMessage().contains("N=3"),
                small.getMessage());
        IllegalArgumentException fewMicrobatches = assertThrows(IllegalArgumentException.class,
                () -> InterleavedSchedule.steps(4, 0, 2, 2));
        assertTrue(fewMicrobatches.getMessage().contains("PP <= N <= M")
                && fewMicrobatches.getMessage().contains("M=2")
                && fewMicrobatches.getMessage().contains("M >= PP"), fewMicrobatches.getMessage());
    }

    @Test
    void acceptsANonDefaultGroupWithALargeEnoughRemainder() {
        // PP=2, N=3, M=8: 8 mod 3 = 2 >= PP -> valid; M=7: 7 mod 3 = 1 < PP -> invalid.
        assertEquals(32, InterleavedSchedule.steps(2, 0, 8, 2, 3).size());
        assertThrows(IllegalArgumentException.class, () -> InterleavedSchedule.steps(2, 0, 7, 2, 3));
    }

    @Test
    void rejectsBadRankAndChunks() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InterleavedSchedule.steps(4, 4, 8, 2))
                .getMessage().contains("rank=4"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InterleavedSchedule.steps(4, -1, 8, 2))
                .getMessage().contains("rank=-1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InterleavedSchedule.steps(4, 0, 8, 0))
                .getMessage().contains("V=0"));
    }

    @Test
    void actionsComputeTheSameStepsAsTheStepList() {
        for (int pp = 2; pp <= 4; pp++) {
            for (int v = 1; v <= 3; v++) {
                for (int r = 0; r < pp; r++) {
                    assertEquals(InterleavedSchedule.steps(pp, r, 2 * pp, v),
                            PipelineActions.computeSteps(InterleavedSchedule.actions(pp, r, 2 * pp, v)));
                }
            }
        }
    }

    @Test
    void selectorFollowsMegatron() {
        assertEquals(OneFOneBSchedule.actions(4, 1, 8), PipelineSchedules.actions(4, 1, 8, 1, 4, false));
        assertEquals(InterleavedSchedule.actions(4, 1, 8, 2, 4), PipelineSchedules.actions(4, 1, 8, 2, 4, false));
        assertEquals(OneFOneBSchedule.steps(1, 0, 3), PipelineSchedules.steps(1, 0, 3, 1, 1, false));
        assertThrows(IllegalArgumentException.class, () -> PipelineSchedules.actions(1, 0, 4, 2, 1, false));
    }

    private static Entry e(int mb, int chunk) {
        return new Entry(mb, chunk);
    }
}
