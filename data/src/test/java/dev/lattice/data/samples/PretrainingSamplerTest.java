package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PretrainingSamplerTest {

    private static List<long[]> batches(long total, long consumed, int mbs, int rank, int dp, boolean dropLast) {
        List<long[]> out = new ArrayList<>();
        for (long[] b : new PretrainingSampler(total, consumed, mbs, rank, dp, dropLast)) {
            out.add(b);
        }
        return out;
    }

    @Test
    void rankTakesItsSliceOfEachChunk() {
        // total 20, mbs 2, dp 3: chunks of 6 starting at 0, 6, 12; the last 2 samples are dropped.
        List<long[]> r1 = batches(20, 0, 2, 1, 3, true);
        assertEquals(3, r1.size());
        assertArrayEquals(new long[] {2, 3}, r1.get(0));
        assertArrayEquals(new long[] {8, 9}, r1.get(1));
        assertArrayEquals(new long[] {14, 15}, r1.get(2));
    }

    @Test
    void ranksTogetherCoverEachGlobalChunkContiguously() {
        int dp = 4;
        int mbs = 3;
        List<List<long[]>> perRank = new ArrayList<>();
        for (int r = 0; r < dp; r++) {
            perRank.add(batches(100, 5, mbs, r, dp, true));
        }
        int steps = perRank.get(0).size();
        assertEquals((100 - 5) / (mbs * dp), steps);
        for (int s = 0; s < steps; s++) {
            long expected = 5 + (long) s * mbs * dp;
            for (int r = 0; r < dp; r++) {
                for (long idx : perRank.get(r).get(s)) {
                    assertEquals(expected++, idx, "step " + s + " rank " + r);
                }
            }
        }
    }

    @Test
    void resumingFromConsumedSamplesGivesTheTailOfTheUninterruptedStream() {
        int mbs = 2;
        int dp = 3;
        for (int rank = 0; rank < dp; rank++) {
            List<long[]> full = batches(50, 0, mbs, rank, dp, false);
            for (int k = 0; k <= 7; k++) {
                List<long[]> resumed = batches(50, (long) k * mbs * dp, mbs, rank, dp, false);
                assertEquals(full.size() - k, resumed.size(), "k " + k);
                for (int i = 0; i < resumed.size(); i++) {
                    assertArrayEquals(full.get(k + i), resumed.get(i), "rank " + rank + " k " + k + " batch " + i);
                }
            }
        }
    }

    @Test
    void partialLastChunkIsSlicedPerRankWhenKept() {
        // total 10, mbs 2, dp 3: chunk [0, 6) then a partial [6, 10): rank 0 -> 6,7; rank 1 -> 8,9; rank 2 -> empty.
        assertArrayEquals(new long[] {6, 7}, batches(10, 0, 2, 0, 3, false).get(1));
        assertArrayEquals(new long[] {8, 9}, batches(10, 0, 2, 1, 3, false).get(1));
        assertArrayEquals(new long[0], batches(10, 0, 2, 2, 3, false).get(1));
        assertEquals(1, batches(10, 0, 2, 2, 3, true).size());
        // total 11: rank 2 gets the single leftover sample.
        assertArrayEquals(new long[] {10}, batches(11, 0, 2, 2, 3, false).get(1));
    }

    @Test
    void argumentErrorsAreClear() {
        assertMessage(() -> new PretrainingSampler(10, 10, 2, 0, 1, true), "no samples left");
        assertMessage(() -> new PretrainingSampler(0, 0, 2, 0, 1, true), "no sample to consume");
        assertMessage(() -> new PretrainingSampler(10, 0, 2, 3, 3, true), "rank 3");
        assertMessage(() -> new PretrainingSampler(10, 0, 2, -1, 3, true), "rank -1");
        assertMessage(() -> new PretrainingSampler(10, 0, 0, 0, 1, true), "micro batch size");
        assertMessage(() -> new PretrainingSampler(10, 0, 2, 0, 0, true), "data-parallel size");
        assertMessage(() -> new PretrainingSampler(10, -1, 2, 0, 1, true), "consumed");
        assertMessage(() -> PretrainingSampler.checkGlobalBatch(10, 2, 3), "not divisible");
        PretrainingSampler.checkGlobalBatch(12, 2, 3);
    }

    private static void assertMessage(Runnable r, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }
}
