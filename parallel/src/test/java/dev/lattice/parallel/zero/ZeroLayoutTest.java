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

    @Test
    void aBucketClosesAfterTheNamedParametersToo() {
        // params 5, 3, 10, 1, 2 with buckets of >= 100 and DP 2, closing after params 0 and 1:
        // bucket 0 = param 0 (5 -> 6), bucket 1 = param 1 (3 -> 4), bucket 2 = params 2..4 (13 -> 14)
        ZeroLayout z = new ZeroLayout(new long[] {5, 3, 10, 1, 2}, 2, 100, new int[] {0, 1});
        assertEquals(List.of(new ZeroLayout.Bucket(0, 6, 0, 1), new ZeroLayout.Bucket(6, 4, 1, 2),
                new ZeroLayout.Bucket(10, 14, 2, 5)), z.buckets());
        assertEquals(6, z.offset(1));
        assertEquals(10, z.offset(2));
        // the size rule still applies after a forced close: >= 4 elements closes params 2 and then 3, 4 together
        ZeroLayout sized = new ZeroLayout(new long[] {5, 3, 10, 1, 2}, 1, 4, new int[] {0});
        assertEquals(List.of(new ZeroLayout.Bucket(0, 5, 0, 1), new ZeroLayout.Bucket(5, 13, 1, 3),
                new ZeroLayout.Bucket(18, 3, 3, 5)), sized.buckets());
        assertThrows(IllegalArgumentException.class, () -> new ZeroLayout(new long[] {1, 2}, 1, 10, new int[] {2}));
    }

    @Test
    void bucketsCanBePaddedToAnAlignmentToo() {
        // params 5, 3, 10 with buckets closing after param 0, DP 3 and alignment 4: multiples of 12
        // bucket 0 = param 0 (5 -> 12), bucket 1 = params 1, 2 (13 -> 24); shards of 4 and 8
        ZeroLayout z = new ZeroLayout(new long[] {5, 3, 10}, 3, Long.MAX_VALUE, new int[] {0}, 4);
        assertEquals(List.of(new ZeroLayout.Bucket(0, 12, 0, 1), new ZeroLayout.Bucket(12, 24, 1, 3)), z.buckets());
        assertEquals(12, z.offset(1));
        assertEquals(15, z.offset(2));
        assertEquals(8, z.buckets().get(1).shardLength(3));
        // DP 2 and alignment 4 share a factor: multiples of 4, not 8
        ZeroLayout shared = new ZeroLayout(new long[] {5, 3}, 2, Long.MAX_VALUE, new int[] {0}, 4);
        assertEquals(List.of(new ZeroLayout.Bucket(0, 8, 0, 1), new ZeroLayout.Bucket(8, 4, 1, 2)), shared.buckets());
        assertThrows(IllegalArgumentException.class, () -> new ZeroLayout(new long[] {1}, 1, 10, new int[0], 0));
    }
}
