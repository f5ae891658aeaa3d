package dev.lattice.parallel.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * Megatron's schedule selection (spec §7): PP = 1 → no pipelining (F0 B0 F1 B1 …, no communication); PP &gt; 1 and
 * V = 1 → non-interleaved 1F1B; PP &gt; 1 and V &gt; 1 → interleaved with group size N.
 */
public final class PipelineSchedules {

    private PipelineSchedules() {
    }

    public static List<Action> actions(int pp, int rank, int microbatches, int chunks, int groupSize,
            boolean forwardOnly) {
        if (chunks < 1) {
            throw new IllegalArgumentException("model chunks per rank V must be >= 1, got V=" + chunks);
        }
        if (chunks > 1) {
            return forwardOnly
                    ? InterleavedSchedule.forwardOnlyActions(pp, rank, microbatches, chunks, groupSize)
                    : InterleavedSchedule.actions(pp, rank, microbatches, chunks, groupSize);
        }
        return forwardOnly
                ? OneFOneBSchedule.forwardOnlyActions(pp, rank, microbatches)
                : OneFOneBSchedule.actions(pp, rank, microbatches);
    }

    public static List<PipelineStep> steps(int pp, int rank, int microbatches, int chunks, int groupSize,
            boolean forwardOnly) {
        return PipelineActions.computeSteps(actions(pp, rank, microbatches, chunks, groupSize, forwardOnly));
    }

    /** Every rank's actions, index = pipeline rank. */
    public static List<List<Action>> allRanks(int pp, int microbatches, int chunks, int groupSize,
            boolean forwardOnly) {
        List<List<Action>> out = new ArrayList<>(pp);
        for (int r = 0; r < pp; r++) {
            out.add(actions(pp, r, microbatches, chunks, groupSize, forwardOnly));
        }
        return List.copyOf(out);
    }
}
