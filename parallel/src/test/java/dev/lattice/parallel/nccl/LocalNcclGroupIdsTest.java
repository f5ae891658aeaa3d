package dev.lattice.parallel.nccl;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs without CUDA or NCCL: precomputed ids never load the native libraries. */
class LocalNcclGroupIdsTest {

    private static byte[] id(int seed) {
        byte[] b = new byte[NcclGroupIds.ID_BYTES];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (seed * 31 + i);
        }
        return b;
    }

    @Test
    void keysAreNameAndMembers() {
        assertEquals("dp[0,2]", NcclGroupIds.key("dp", new int[] {0, 2}));
        assertEquals("world[0,1,2,3]", NcclGroupIds.key("world", new int[] {0, 1, 2, 3}));
    }

    @Test
    void precomputedIdsAreHandedOutAsCopies() {
        LocalNcclGroupIds ids = new LocalNcclGroupIds(Map.of("dp[0,2]", id(1), "tp[0,1]", id(2)));
        byte[] got = ids.idFor("dp[0,2]");
        assertArrayEquals(id(1), got);
        got[0]++;
        assertArrayEquals(id(1), ids.idFor("dp[0,2]"), "callers cannot change the shared id");
    }

    @Test
    void anUnknownGroupIsNamed() {
        LocalNcclGroupIds ids = new LocalNcclGroupIds(Map.of("dp[0,2]", id(1)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ids.idFor("pp[0,4]"));
        assertTrue(e.getMessage().contains("pp[0,4]"), e.getMessage());
        assertTrue(e.getMessage().contains("dp[0,2]"), "lists the known groups: " + e.getMessage());
    }

    @Test
    void idsOfTheWrongLengthAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LocalNcclGroupIds(Map.of("dp[0,1]", new byte[16])));
        assertTrue(e.getMessage().contains("dp[0,1]") && e.getMessage().contains("16"), e.getMessage());
    }
}
