package dev.lattice.parallel.topology;

import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.lattice.parallel.topology.Topology.Axis.CP;
import static dev.lattice.parallel.topology.Topology.Axis.DP;
import static dev.lattice.parallel.topology.Topology.Axis.PP;
import static dev.lattice.parallel.topology.Topology.Axis.TP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Megatron's worked example, megatron-formats.md §6: TP=2, CP=2, DP=2, PP=2 on 16 ranks. */
class TopologyTest {

    private final Topology t = new Topology(16, 2, 2, 2);

    @Test
    void coordinatesFollowTheOrderString() {
        assertEquals(2, t.dp());
        for (int r = 0; r < 16; r++) {
            assertEquals(r % 2, t.tpRank(r));
            assertEquals((r / 2) % 2, t.cpRank(r));
            assertEquals((r / 4) % 2, t.dpRank(r));
            assertEquals(r / 8, t.ppRank(r));
            assertEquals(r, t.rankOf(t.tpRank(r), t.cpRank(r), t.dpRank(r), t.ppRank(r)));
        }
    }

    @Test
    void groupsMatchMegatronsExample() {
        assertGroups(List.of(new int[] {0, 1}, new int[] {2, 3}), t.groups(TP), 2);
        assertGroups(List.of(new int[] {0, 2}, new int[] {1, 3}, new int[] {4, 6}), t.groups(CP), 3);
        assertGroups(List.of(new int[] {0, 4}, new int[] {1, 5}, new int[] {2, 6}, new int[] {3, 7},
                new int[] {8, 12}), t.groups(DP), 5);
        assertGroups(List.of(new int[] {0, 8}, new int[] {1, 9}), t.groups(PP), 2);
        assertArrayEquals(new int[] {7, 15}, t.groupOf(15, PP));
        assertGroups(List.of(new int[] {0, 2, 4, 6}, new int[] {1, 3, 5, 7}, new int[] {8, 10, 12, 14},
                new int[] {9, 11, 13, 15}), t.groups(DP, CP), 4);
        assertGroups(List.of(new int[] {0, 1, 8, 9}, new int[] {2, 3, 10, 11}), t.groups(TP, PP), 2);
        assertGroups(List.of(new int[] {0, 1, 2, 3}, new int[] {4, 5, 6, 7}), t.groups(TP, CP), 2);
        assertGroups(List.of(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, new int[] {8, 9, 10, 11, 12, 13, 14, 15}),
                t.groups(TP, DP, CP), 2);
        assertEquals(8, t.groups(DP).size());
    }

    @Test
    void groupRankIsTheIndexInTheGroup() {
        // DP-with-CP rank = cp + CP·dp
        for (int r = 0; r < 16; r++) {
            int[] g = t.groupOf(r, DP, CP);
            assertEquals(r, g[t.cpRank(r) + 2 * t.dpRank(r)]);
        }
    }

    @Test
    void embeddingGroupIsFirstAndLastStage() {
        Topology four = new Topology(8, 1, 1, 4);
        assertArrayEquals(new int[] {0, 6}, four.embeddingGroup(2));
        assertArrayEquals(new int[] {3}, new Topology(4, 2, 1, 1).embeddingGroup(3).length == 1
                ? new int[] {3} : null);
    }

    @Test
    void worldThatDoesNotDivideIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Topology(6, 2, 1, 2));
        assertTrue(e.getMessage().contains("--world-size 6 is not divisible"), e.getMessage());
    }

    private static void assertGroups(List<int[]> expectedPrefix, List<int[]> actual, int n) {
        for (int i = 0; i < Math.min(n, expectedPrefix.size()); i++) {
            assertArrayEquals(expectedPrefix.get(i), actual.get(i), "group " + i);
        }
    }
}
