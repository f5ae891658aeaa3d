package dev.lattice.parallel.nccl;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Group ids held in this JVM: generated on first request (ranks as threads of one JVM), or handed in precomputed
 * (ranks in several processes, where one process generated them all and shared the bytes).
 */
public final class LocalNcclGroupIds implements NcclGroupIds {

    private final Map<String, byte[]> ids;
    private final boolean generateMissing;

    /** Generates each group's id on its first request; later requests for the same key get the same bytes. */
    public LocalNcclGroupIds() {
        this.ids = new ConcurrentHashMap<>();
        this.generateMissing = true;
    }

    /** Only the given ids (key → 128 bytes); asking for another key is an error. Touches no native library. */
    public LocalNcclGroupIds(Map<String, byte[]> precomputed) {
        Map<String, byte[]> copy = new ConcurrentHashMap<>();
        precomputed.forEach((key, id) -> {
            if (id == null || id.length != ID_BYTES) {
                throw new IllegalArgumentException("NCCL id of group " + key + " must have " + ID_BYTES
                        + " bytes, got " + (id == null ? "none" : id.length));
            }
            copy.put(key, id.clone());
        });
        this.ids = copy;
        this.generateMissing = false;
    }

    /** Fresh ids for {@code keys} (calls ncclGetUniqueId once per key), in the keys' order. */
    public static Map<String, byte[]> generate(Collection<String> keys) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (String key : keys) {
            out.put(key, UniqueIds.generate(key));
        }
        return out;
    }

    @Override
    public byte[] idFor(String groupKey) {
        byte[] id = generateMissing ? ids.computeIfAbsent(groupKey, UniqueIds::generate) : ids.get(groupKey);
        if (id == null) {
            throw new IllegalArgumentException("no NCCL id for group " + groupKey + "; known groups: "
                    + new java.util.TreeSet<>(ids.keySet()));
        }
        return id.clone();
    }
}
