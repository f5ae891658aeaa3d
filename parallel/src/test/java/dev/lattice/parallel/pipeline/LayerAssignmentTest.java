package dev.lattice.parallel.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class LayerAssignmentTest {

    @Test
    void specExampleSixteenLayersPp4V2() {
        assertEquals(List.of(List.of(0, 1), List.of(8, 9)), LayerAssignment.layersOf(16, 4, 0, 2));
        assertEquals(List.of(List.of(2, 3), List.of(10, 11)), LayerAssignment.layersOf(16, 4, 1, 2));
        assertEquals(List.of(List.of(4, 5), List.of(12, 13)), LayerAssignment.layersOf(16, 4, 2, 2));
        assertEquals(List.of(List.of(6, 7), List.of(14, 15)), LayerAssignment.layersOf(16, 4, 3, 2));
    }

    @Test
    void withoutInterleavingEachRankHoldsAContiguousBlock() {
        assertEquals(List.of(List.of(4, 5, 6, 7)), LayerAssignment.layersOf(16, 4, 1, 1));
        assertEquals(6, LayerAssignment.virtualStageOf(16, 4, 2, 13));
    }

    @Test
    void everyLayerIsAssignedExactlyOnce() {
        int[] seen = new int[24];
        for (int r = 0; r < 3; r++) {
            for (List<Integer> chunk : LayerAssignment.layersOf(24, 3, r, 4)) {
                for (int layer : chunk) {
                    seen[layer]++;
                }
            }
        }
        for (int count : seen) {
            assertEquals(1, count);
        }
    }

    @Test
    void layersNotDivisibleIsRejectedWithTheConstraint() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LayerAssignment.layersOf(18, 4, 0, 2));
        assertTrue(e.getMessage().contains("divisible by PP·V"), e.getMessage());
        assertTrue(e.getMessage().contains("numLayers=18"), e.getMessage());
        assertTrue(e.getMessage().contains("PP·V=8"), e.getMessage());
    }

    @Test
    void rankOutOfRangeIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> LayerAssignment.layersOf(16, 4, 4, 2));
    }
}
