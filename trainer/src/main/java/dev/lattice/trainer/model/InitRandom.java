package dev.lattice.trainer.model;

import java.util.stream.IntStream;

/**
 * The random stream of {@link java.util.SplittableRandom} (SplitMix64: Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014), written out so that any position of it can be read directly: the
 * k-th value is a function of the seed, the gamma and k. That lets a parameter's normal draws be computed on all cores
 * with exactly the values of drawing them one after another, which for a 1.3B model took 37 s a rank on one core
 * (28.6 ns a draw), most of a run's start-up.
 */
final class InitRandom {

    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private static final double DOUBLE_UNIT = 0x1.0p-53;
    /** Elements drawn by one task of the parallel fill: large enough to amortise, small enough to balance. */
    private static final int BLOCK = 1 << 16;

    private long seed;
    private final long gamma;

    InitRandom(long seed) {
        this(seed, GOLDEN_GAMMA);
    }

    private InitRandom(long seed, long gamma) {
        this.seed = seed;
        this.gamma = gamma;
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static long mixGamma(long z) {
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
        z = (z ^ (z >>> 33)) | 1L;
        int n = Long.bitCount(z ^ (z >>> 1));
        return n < 24 ? z ^ 0xaaaaaaaaaaaaaaaaL : z;
    }

    long nextLong() {
        return mix64(seed += gamma);
    }

    double nextDouble() {
        return (nextLong() >>> 11) * DOUBLE_UNIT;
    }

    /** A new independent stream, as SplittableRandom.split() makes it (this stream advances by two values). */
    InitRandom split() {
        long s = nextLong();
        return new InitRandom(s, mixGamma(seed += gamma));
    }

    /** The double the {@code k}-th next call of nextDouble would return (k = 0: the next one), without advancing. */
    private double doubleAt(long k) {
        return (mix64(seed + (k + 1) * gamma) >>> 11) * DOUBLE_UNIT;
    }

    /**
     * Fills {@code v} with normal draws times {@code std}, in parallel, each element exactly the value of drawing
     * them in turn (Box-Muller on two uniforms in (0, 1] per element), and advances the stream past them.
     */
    void fillNormal(float[] v, double std) {
        int blocks = (v.length + BLOCK - 1) / BLOCK;
        IntStream.range(0, blocks).parallel().forEach(b -> {
            int end = Math.min(v.length, (b + 1) * BLOCK);
            for (int i = b * BLOCK; i < end; i++) {
                double u1 = 1.0 - doubleAt(2L * i);
                double u2 = doubleAt(2L * i + 1);
                v[i] = (float) (gaussian(u1, u2) * std);
            }
        });
        seed += 2L * v.length * gamma;
    }

    /** Box-Muller: a standard normal from two uniforms, u1 in (0, 1]. */
    static double gaussian(double u1, double u2) {
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
