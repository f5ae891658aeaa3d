package dev.lattice.parallel.nccl;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** -Dlattice.nccl.computeStreamGroups: which named groups run their collectives on the compute stream. */
class ComputeStreamGroupsTest {

    @Test
    void tensorParallelismIsOnTheComputeStreamUnlessTurnedOff() {
        if (System.getProperty("lattice.nccl.computeStreamGroups") == null) {
            assertEquals(Set.of("tp"), NcclWorld.COMPUTE_STREAM_GROUPS, "the default");
        }
        assertEquals(Set.of(), NcclWorld.computeStreamGroups("none"));
        assertEquals(Set.of(), NcclWorld.computeStreamGroups(""));
        assertEquals(Set.of("tp", "pp"), NcclWorld.computeStreamGroups(" tp, pp ,"));
    }
}
