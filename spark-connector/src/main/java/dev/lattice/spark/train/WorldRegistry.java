package dev.lattice.spark.train;

import dev.lattice.parallel.comm.InJvmWorld;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Where the ranks of one barrier stage meet inside an executor JVM: rank 0 registers the in-JVM world under the
 * attempt's id and the other ranks look it up (the in-JVM counterpart of handing round an NCCL unique id).
 */
final class WorldRegistry {

    private static final Map<String, InJvmWorld> WORLDS = new ConcurrentHashMap<>();

    private WorldRegistry() {
    }

    static void register(String id, InJvmWorld world) {
        if (WORLDS.putIfAbsent(id, world) != null) {
            throw new IllegalStateException("world " + id + " is registered twice");
        }
    }

    static InJvmWorld lookup(String id) {
        return WORLDS.get(id);
    }

    static void remove(String id) {
        WORLDS.remove(id);
    }
}
