package dev.lattice.parallel.pipeline;

/**
 * Virtual-stage arithmetic for a pipeline of {@code pp} ranks with {@code chunks} model chunks per rank (Megatron
 * §7.2): chunk {@code c} on rank {@code p} is virtual stage {@code c·pp + p}. The next virtual stage of the last rank's
 * chunk {@code c} is chunk {@code c+1} on rank 0; the previous stage of rank 0's chunk {@code c} is chunk {@code c−1}
 * on rank {@code pp−1}.
 */
public final class VirtualStages {

    private VirtualStages() {
    }

    public static int virtualStage(int pp, int rank, int chunk) {
        return chunk * pp + rank;
    }

    /** The first virtual stage (embedding input): never receives activations nor sends gradients. */
    public static boolean isFirst(int rank, int chunk) {
        return rank == 0 && chunk == 0;
    }

    /** The last virtual stage (computes the loss): never sends activations nor receives gradients. */
    public static boolean isLast(int pp, int chunks, int rank, int chunk) {
        return rank == pp - 1 && chunk == chunks - 1;
    }

    public static int nextRank(int pp, int rank) {
        return (rank + 1) % pp;
    }

    public static int nextChunk(int pp, int rank, int chunk) {
        return rank == pp - 1 ? chunk + 1 : chunk;
    }

    public static int prevRank(int pp, int rank) {
        return (rank - 1 + pp) % pp;
    }

    public static int prevChunk(int pp, int rank, int chunk) {
        return rank == 0 ? chunk - 1 : chunk;
    }

    static void checkRank(int pp, int rank) {
        if (pp < 1) {
            throw new IllegalArgumentException("pipeline-parallel size PP must be >= 1, got PP=" + pp);
        }
        if (rank < 0 || rank >= pp) {
            throw new IllegalArgumentException("pipeline rank must be in [0, PP) = [0, " + pp + "), got rank=" + rank);
        }
    }
}
