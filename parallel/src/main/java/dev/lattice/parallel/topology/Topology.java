package dev.lattice.parallel.topology;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Megatron's rank layout (megatron-formats.md §6) with the default order {@code tp-cp-dp-pp}, leftmost fastest:
 * {@code rank = tp + TP·(cp + CP·(dp + DP·pp))}. A group for a set of axes holds the ranks that differ only in those
 * axes, ordered with the earlier axis of the order string varying fastest; a rank's index in the group is its rank in
 * that group.
 */
public final class Topology {

    /** The parallel axes in Megatron's default order (leftmost fastest). */
    public enum Axis {
        TP, CP, DP, PP
    }

    private final int world;
    private final int[] sizes; // indexed by Axis.ordinal()

    /**
     * @throws IllegalArgumentException naming the sizes when TP·CP·PP does not divide the world
     */
    public Topology(int world, int tp, int cp, int pp) {
        if (world <= 0 || tp <= 0 || cp <= 0 || pp <= 0) {
            throw new IllegalArgumentException("--world-size " + world + ", --tensor-model-parallel-size " + tp
                    + ", --context-parallel-size " + cp + " and --pipeline-model-parallel-size " + pp
                    + " must all be positive");
        }
        if (world % (tp * cp * pp) != 0) {
            throw new IllegalArgumentException("--world-size " + world + " is not divisible by"
                    + " tensor-parallel " + tp + " × context-parallel " + cp + " × pipeline-parallel " + pp
                    + " = " + (tp * cp * pp));
        }
        this.world = world;
        this.sizes = new int[] {tp, cp, world / (tp * cp * pp), pp};
    }

    public int world() {
        return world;
    }

    public int size(Axis a) {
        return sizes[a.ordinal()];
    }

    public int tp() {
        return size(Axis.TP);
    }

    public int cp() {
        return size(Axis.CP);
    }

    public int dp() {
        return size(Axis.DP);
    }

    public int pp() {
        return size(Axis.PP);
    }

    /** The coordinate of {@code rank} along {@code axis}. */
    public int coordinate(int rank, Axis axis) {
        checkRank(rank);
        int r = rank;
        for (Axis a : Axis.values()) {
            if (a == axis) {
                return r % sizes[a.ordinal()];
            }
            r /= sizes[a.ordinal()];
        }
        throw new IllegalStateException();
    }

    public int tpRank(int rank) {
        return coordinate(rank, Axis.TP);
    }

    public int cpRank(int rank) {
        return coordinate(rank, Axis.CP);
    }

    public int dpRank(int rank) {
        return coordinate(rank, Axis.DP);
    }

    public int ppRank(int rank) {
        return coordinate(rank, Axis.PP);
    }

    /** The rank at the given coordinates. */
    public int rankOf(int tp, int cp, int dp, int pp) {
        int[] c = {tp, cp, dp, pp};
        int rank = 0;
        int stride = 1;
        for (Axis a : Axis.values()) {
            int v = c[a.ordinal()];
            if (v < 0 || v >= sizes[a.ordinal()]) {
                throw new IllegalArgumentException(a + " coordinate " + v + " outside [0, " + sizes[a.ordinal()] + ")");
            }
            rank += v * stride;
            stride *= sizes[a.ordinal()];
        }
        return rank;
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= world) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + world + ")");
        }
    }

    /** The members of {@code rank}'s group over {@code axes}, in group-rank order. */
    public int[] groupOf(int rank, Axis... axes) {
        checkRank(rank);
        Set<Axis> in = axes.length == 0 ? EnumSet.noneOf(Axis.class) : EnumSet.copyOf(Arrays.asList(axes));
        int[] coord = new int[4];
        for (Axis a : Axis.values()) {
            coord[a.ordinal()] = coordinate(rank, a);
        }
        int count = 1;
        for (Axis a : in) {
            count *= sizes[a.ordinal()];
        }
        int[] members = new int[count];
        for (int i = 0; i < count; i++) {
            int rest = i;
            int[] c = coord.clone();
            for (Axis a : Axis.values()) { // order-string order: earlier axis fastest
                if (in.contains(a)) {
                    c[a.ordinal()] = rest % sizes[a.ordinal()];
                    rest /= sizes[a.ordinal()];
                }
            }
            members[i] = rankOf(c[0], c[1], c[2], c[3]);
        }
        return members;
    }

    /** Every group over {@code axes}, ordered by their lowest rank. */
    public List<int[]> groups(Axis... axes) {
        List<int[]> out = new ArrayList<>();
        boolean[] seen = new boolean[world];
        for (int r = 0; r < world; r++) {
            if (!seen[r]) {
                int[] g = groupOf(r, axes);
                for (int m : g) {
                    seen[m] = true;
                }
                out.add(g);
            }
        }
        return out;
    }

    /** Megatron's embedding group: the first and last stage of the rank's pipeline (one rank when PP = 1). */
    public int[] embeddingGroup(int rank) {
        int[] pipeline = groupOf(rank, Axis.PP);
        return pipeline.length == 1 ? pipeline : new int[] {pipeline[0], pipeline[pipeline.length - 1]};
    }

    /** The model-parallel group (tp × pp). */
    public int[] modelParallelGroup(int rank) {
        return groupOf(rank, Axis.TP, Axis.PP);
    }

    @Override
    public String toString() {
        return "world " + world + " = TP " + tp() + " × CP " + cp() + " × DP " + dp() + " × PP " + pp();
    }
}
