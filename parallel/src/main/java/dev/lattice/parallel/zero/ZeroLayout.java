package dev.lattice.parallel.zero;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * How ZeRO lays parameters (and their gradients and optimizer states) out for data-parallel sharding: the
 * parameters, in order, are packed into flat buckets of about {@code bucketElements}, each padded to a multiple of
 * the data-parallel size and cut into one equal shard per DP rank. A parameter never straddles buckets, so a bucket
 * can be reduced as soon as its gradients are final. A bucket also closes after each parameter named in
 * {@code closeAfter} (Megatron gives the shared embeddings a bucket of their own the same way): parameters whose
 * gradients become final at the very end of the backward pass are then not held back by, nor hold back, the rest.
 */
public final class ZeroLayout {

    /** One bucket: where it starts in the flat buffer, its padded length, and its parameters' index range. */
    public record Bucket(long start, long length, int firstParam, int endParam) {

        public long shardLength(int dp) {
            return length / dp;
        }
    }

    /** A piece of one parameter inside a flat range: {@code count} elements at {@code paramOffset}. */
    public record Segment(int param, long paramOffset, long flatOffset, long count) {
    }

    private final long[] sizes;
    private final long[] offsets;
    private final int dp;
    private final List<Bucket> buckets;
    private final long total;

    public ZeroLayout(long[] paramSizes, int dp, long bucketElements) {
        this(paramSizes, dp, bucketElements, new int[0]);
    }

    /** As above, a bucket also closing after each parameter index in {@code closeAfter}. */
    public ZeroLayout(long[] paramSizes, int dp, long bucketElements, int[] closeAfter) {
        this(paramSizes, dp, bucketElements, closeAfter, 1);
    }

    /**
     * As above, each bucket padded to a multiple of {@code align} elements as well as of {@code dp}, so that every
     * bucket starts at a multiple of {@code align} (a bf16 twin of the flat buffer then keeps its tensors at the
     * 256-byte boundaries cuBLASLt wants with {@code align} 128).
     */
    public ZeroLayout(long[] paramSizes, int dp, long bucketElements, int[] closeAfter, long align) {
        if (dp <= 0) {
            throw new IllegalArgumentException("data-parallel size must be positive, got " + dp);
        }
        if (align <= 0) {
            throw new IllegalArgumentException("bucket alignment must be positive, got " + align);
        }
        long multiple = dp / gcd(dp, align) * align;
        this.sizes = paramSizes.clone();
        this.dp = dp;
        boolean[] closes = new boolean[sizes.length];
        for (int p : closeAfter) {
            if (p < 0 || p >= sizes.length) {
                throw new IllegalArgumentException("closeAfter names parameter " + p + " of " + sizes.length);
            }
            closes[p] = true;
        }
        this.offsets = new long[sizes.length];
        List<Bucket> bs = new ArrayList<>();
        long flat = 0;
        int first = 0;
        long inBucket = 0;
        long bucketStart = 0;
        for (int p = 0; p < sizes.length; p++) {
            offsets[p] = flat;
            flat += sizes[p];
            inBucket += sizes[p];
            if (inBucket >= bucketElements || closes[p] || p == sizes.length - 1) {
                long padded = (inBucket + multiple - 1) / multiple * multiple;
                bs.add(new Bucket(bucketStart, padded, first, p + 1));
                flat = bucketStart + padded;
                bucketStart = flat;
                first = p + 1;
                inBucket = 0;
            }
        }
        this.buckets = Collections.unmodifiableList(bs);
        this.total = flat;
    }

    private static long gcd(long a, long b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    public int dp() {
        return dp;
    }

    public List<Bucket> buckets() {
        return buckets;
    }

    /** Length of the flat buffer, padding included. */
    public long flatLength() {
        return total;
    }

    /** Where parameter {@code p} starts in the flat buffer. */
    public long offset(int p) {
        return offsets[p];
    }

    public long size(int p) {
        return sizes[p];
    }

    public int params() {
        return sizes.length;
    }

    /** The flat range [start, end) of bucket {@code b} that DP rank {@code rank} owns. */
    public long[] shard(int b, int rank) {
        Bucket k = buckets.get(b);
        long len = k.shardLength(dp);
        return new long[] {k.start() + rank * len, k.start() + (rank + 1) * len};
    }

    /** Elements DP rank {@code rank} owns over all buckets. */
    public long ownedElements(int rank) {
        long n = 0;
        for (int b = 0; b < buckets.size(); b++) {
            long[] s = shard(b, rank);
            n += s[1] - s[0];
        }
        return n;
    }

    /** The parameter pieces inside the flat range [from, to) (padding excluded). */
    public List<Segment> segments(long from, long to) {
        List<Segment> out = new ArrayList<>();
        for (int p = 0; p < sizes.length; p++) {
            long s = Math.max(from, offsets[p]);
            long e = Math.min(to, offsets[p] + sizes[p]);
            if (s < e) {
                out.add(new Segment(p, s - offsets[p], s, e - s));
            }
        }
        return out;
    }
}
