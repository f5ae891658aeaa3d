package dev.lattice.parallel.nccl;

import java.util.Arrays;

/**
 * Where the members of a group find the group's {@code ncclUniqueId}: every member must pass the same 128 bytes to
 * {@code ncclCommInitRank}. Ranks that are threads of one JVM share them in memory ({@link LocalNcclGroupIds});
 * ranks in several processes get them from whoever generated them (e.g. rank 0, through Spark's barrier allGather).
 */
public interface NcclGroupIds {

    /** Bytes in an {@code ncclUniqueId}. */
    int ID_BYTES = 128;

    /** The id of the group with key {@code groupKey} (see {@link #key}). */
    byte[] idFor(String groupKey);

    /** A group's key: its name and member list, e.g. {@code dp[0,2]} (the communicator's name too). */
    static String key(String name, int[] members) {
        return name + Arrays.toString(members).replace(" ", "");
    }
}
