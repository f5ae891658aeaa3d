package dev.lattice.parallel.comm;

import java.util.Map;

/**
 * The ranks of one training job and the communicators among them: in-JVM threads ({@link InJvmWorld}) or GPUs
 * through NCCL. Communicators are asked for by each rank, from that rank's own thread.
 */
public interface CommWorld {

    int size();

    /**
     * Fails every pending and future operation of this world with {@code reason}: when one rank fails, the others
     * stop waiting for it at once instead of at their timeout.
     */
    void abort(String reason);

    /** Bytes moved per kind of group (the name given to {@link #group}, e.g. "tp", "dp", "pp"). */
    Map<String, Long> bytesByGroupName();

    /** The communicator of world rank {@code rank} over all ranks. */
    Communicator world(int rank);

    /**
     * The communicator of world rank {@code rank} in the group of world ranks {@code members} (every member asks
     * with the same list; group rank = position in the list).
     */
    Communicator group(int rank, int[] members, String name);

    /** Releases what rank {@code rank}'s communicators hold; called when the rank ends, however it ends. */
    void closeRank(int rank);

    /**
     * {@code rank}'s position in {@code members} (its group rank), after checking that every member is a rank of a
     * world of {@code size} and that {@code rank} is one of them.
     */
    static int groupRank(int rank, int[] members, String name, int size) {
        int groupRank = -1;
        for (int i = 0; i < members.length; i++) {
            if (members[i] < 0 || members[i] >= size) {
                throw new IllegalArgumentException("group " + name + " names rank " + members[i]
                        + " outside the world of " + size);
            }
            if (members[i] == rank) {
                groupRank = i;
            }
        }
        if (groupRank < 0) {
            throw new IllegalArgumentException("rank " + rank + " is not a member of group " + name
                    + java.util.Arrays.toString(members));
        }
        return groupRank;
    }

    /** The world ranks 0..size−1 (the members of the "world" group). */
    static int[] allRanks(int size) {
        int[] all = new int[size];
        for (int i = 0; i < size; i++) {
            all[i] = i;
        }
        return all;
    }

    /** Bytes per kind of group over {@code communicators}, the kind being the name before '[' ("dp[0,2]" → "dp"). */
    static Map<String, Long> bytesByKind(Iterable<? extends Communicator> communicators) {
        Map<String, Long> out = new java.util.TreeMap<>();
        for (Communicator c : communicators) {
            String name = c.name();
            int bracket = name.indexOf('[');
            out.merge(bracket < 0 ? name : name.substring(0, bracket), c.stats().totalBytes(), Long::sum);
        }
        return out;
    }
}
