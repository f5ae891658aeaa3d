package dev.lattice.parallel.nccl;

import org.bytedeco.cuda.nccl.ncclUniqueId;

import static org.bytedeco.cuda.global.nccl.ncclGetUniqueId;

/**
 * Conversions between {@code ncclUniqueId} and bytes. Kept apart from {@link LocalNcclGroupIds} so that precomputed
 * ids work without loading NCCL.
 */
final class UniqueIds {

    private UniqueIds() {
    }

    /** A new id from ncclGetUniqueId (which also starts this process's bootstrap root for the group). */
    static byte[] generate(String groupKey) {
        ncclUniqueId id = new ncclUniqueId();
        Nccl.check(ncclGetUniqueId(id), "ncclGetUniqueId for group " + groupKey);
        byte[] out = new byte[NcclGroupIds.ID_BYTES];
        for (int i = 0; i < out.length; i++) {
            out[i] = id.internal(i);
        }
        return out;
    }

    static ncclUniqueId toNative(byte[] bytes) {
        if (bytes.length != NcclGroupIds.ID_BYTES) {
            throw new IllegalArgumentException("an NCCL id has " + NcclGroupIds.ID_BYTES + " bytes, got "
                    + bytes.length);
        }
        ncclUniqueId id = new ncclUniqueId();
        for (int i = 0; i < bytes.length; i++) {
            id.internal(i, bytes[i]);
        }
        return id;
    }
}
