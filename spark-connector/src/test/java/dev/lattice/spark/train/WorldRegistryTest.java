package dev.lattice.spark.train;

import dev.lattice.parallel.comm.CommWorld;
import dev.lattice.parallel.nccl.LocalNcclGroupIds;
import dev.lattice.parallel.nccl.NcclWorld;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class WorldRegistryTest {

    /**
     * GPU ranks of one executor share one NCCL world, created by the first and dropped by the last; what the task
     * listeners call on it (abort, closeRank) works before any communicator exists (no GPU needed for that part).
     */
    @Test
    void ranksOfOneJvmShareOneNcclWorldUntilTheLastReleasesIt() {
        String id = "lattice-test-" + System.nanoTime();
        AtomicInteger created = new AtomicInteger();
        java.util.function.Supplier<CommWorld> create = () -> {
            created.incrementAndGet();
            return new NcclWorld(4, Duration.ofSeconds(5), new LocalNcclGroupIds(Map.of()));
        };
        CommWorld a = WorldRegistry.acquire(id, create);
        CommWorld b = WorldRegistry.acquire(id, create);
        assertSame(a, b);
        assertEquals(1, created.get());
        assertEquals(2, WorldRegistry.users(id));
        a.abort("rank 1 on host-a failed or was killed: drill");
        a.closeRank(1);
        WorldRegistry.release(id);
        assertSame(a, WorldRegistry.lookup(id));
        a.closeRank(0);
        a.closeRank(0); // the trainer closes its rank, then the completion listener again
        WorldRegistry.release(id);
        assertNull(WorldRegistry.lookup(id));
        assertEquals(0, WorldRegistry.users(id));
    }
}
