package dev.lattice.parallel.zero;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ZeroLayoutTest {

    @Test
    void bucketsArePaddedToTheDataParallelSizeAndShardsCoverThem() {
        // params 5, 3, 10, 1 with buckets of >= 8 elements and DP 3:
        // bucket 0 = params 0,1 (8 -> padded 9, shards of 3), bucket 1 = params 2 (10 -> 12), bucket 2 = param 3 (1 -> 3)
        ZeroLayout z = new ZeroLayout(new long[] {5, 3, 10, 1}, 3, 8);
        assertEquals(3, z.buckets().size());
        assertEquals(new ZeroLayout.Bucket(0, 9, 0, 2), z.buckets().get(0));
        assertEquals(new ZeroLayout.Bucket(9, 12, 2, 3), z.buckets().get(1));
        assertEquals(new ZeroLayout.Bucket(21, 3, 3, 4), z.buckets().get(2));
        assertEquals(24, z.flatLength());
        assertEquals(9, z.offset(2));
        assertEquals(21, z.offset(3));
        long owned = 0;
        for (int r = 0; r < 3; r++) {
            owned += z.ownedElements(r);
        }
        assertEquals(24, owned);
        assertEquals(List.of(new long[] {3, 6}[0], new long[] {3, 6}[1]),
                List.of(z.shard(0, 1)[0], z.shard(0, 1)[1]));
    }

    @Test
    void segmentsSplitARangeAtParameterBoundariesAndSkipPadding() {
        ZeroLayout z = new ZeroLayout(new long[] {5, 3, 10, 1}, 3, 8);
        // shard 2 of bucket 0 = flat [6, 9): param 1 elements 1..2 (flat 6,7), then padding at 8
        assertEquals(List.of(new ZeroLayout.Segment(1, 1, 6, 2)), z.segments(6, 9));
        // flat [3, 13): param 0 [3,5), param 1 [5,8), padding 8, param 2 [9,13)
        assertEquals(List.of(new ZeroLayout.Segment(0, 3, 3, 2), new ZeroLayout.Segment(1, 0, 5, 3),
                new ZeroLayout.Segment(2, 0, 9, 4)), z.segments(3, 13));
    }

    @Test
    void singleBucketAndBadSizes() {
        ZeroLayout z = new ZeroLayout(new long[] {4, 4}, 2, Long.MAX_VALUE);
        assertEquals(1, z.buckets().size());
        assertEquals(8, z.flatLength());
        assertThrows(IllegalArgumentException.class, () -> new ZeroLayout(new long[] {1}, 0, 10));
    }
}
