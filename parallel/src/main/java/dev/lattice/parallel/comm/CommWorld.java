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
}
