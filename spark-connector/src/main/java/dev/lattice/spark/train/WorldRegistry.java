package dev.lattice.spark.train;

import dev.lattice.parallel.comm.CommWorld;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Where the ranks of one barrier stage meet inside an executor JVM, by the attempt's world id. CPU ranks: rank 0
 * registers the in-JVM world and the other ranks (threads of the same JVM) look it up. GPU ranks: every rank
 * {@linkplain #acquire acquires} its JVM's NCCL world — the first rank of the JVM creates it, the others share it —
 * and {@linkplain #release releases} it when it ends; the last one out removes it.
 */
final class WorldRegistry {

    private static final class Entry {
        final CommWorld world;
        volatile int users;

        Entry(CommWorld world) {
            this.world = world;
        }
    }

    private static final Map<String, Entry> WORLDS = new ConcurrentHashMap<>();

    private WorldRegistry() {
    }

    /** Registers {@code world} under {@code id} (for {@link #lookup}); {@link #remove} drops it. */
    static void register(String id, CommWorld world) {
        if (WORLDS.putIfAbsent(id, new Entry(world)) != null) {
            throw new IllegalStateException("world " + id + " is registered twice");
        }
    }

    /** The world registered or acquired under {@code id} in this JVM, or null. */
    static CommWorld lookup(String id) {
        Entry e = WORLDS.get(id);
        return e == null ? null : e.world;
    }

    static void remove(String id) {
        WORLDS.remove(id);
    }

    /**
     * This JVM's world {@code id}, created by {@code create} for the first rank that asks; every call must be
     * matched by one {@link #release}.
     */
    static CommWorld acquire(String id, Supplier<? extends CommWorld> create) {
        Entry e = WORLDS.compute(id, (k, existing) -> {
            Entry entry = existing != null ? existing : new Entry(create.get());
            entry.users++;
            return entry;
        });
        return e.world;
    }

    /** One rank is done with world {@code id}; the last user removes it. */
    static void release(String id) {
        WORLDS.computeIfPresent(id, (k, e) -> --e.users <= 0 ? null : e);
    }

    /** Ranks holding world {@code id} through {@link #acquire} (0 when absent). */
    static int users(String id) {
        Entry e = WORLDS.get(id);
        return e == null ? 0 : e.users;
    }
}
