package dev.lattice.data.samples;

/**
 * Bit-exact stand-in for numpy's legacy {@code numpy.random.RandomState(seed)} with an integer seed, limited to what
 * Megatron's GPT dataset needs: raw MT19937 draws, the legacy bounded integer {@code random_interval}, and
 * {@code RandomState.shuffle} on a 1-D array.
 *
 * <p>Megatron shuffles its document and sample indices with this generator, so any deviation (a different seeding
 * routine, a different bounded-integer method, a different swap order) silently produces a different training order
 * than a Megatron run with the same {@code --seed}. Every step below mirrors numpy's legacy code path, not the newer
 * {@code Generator} API, whose bounded integers (Lemire's method) and shuffle differ.
 *
 * <p>Not thread-safe: like numpy's generator, it is a single sequential stream.
 */
public final class NumpyRandomState {

    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final int[] key = new int[N];
    private int pos;

    /**
     * Seeds the generator exactly like {@code numpy.random.RandomState(seed)} with a Python int seed.
     *
     * @param seed a value in {@code [0, 2^32 - 1]}, as numpy's legacy seeding accepts for an integer
     * @throws IllegalArgumentException when the seed is outside that range (numpy raises ValueError there)
     */
    public NumpyRandomState(long seed) {
        if (seed < 0 || seed > 0xffffffffL) {
            throw new IllegalArgumentException(
                    "numpy RandomState seed must be between 0 and 2**32 - 1, got " + seed);
        }
        // numpy's mt19937_seed is Matsumoto-Nishimura's init_genrand: a linear recurrence over the 624 state words.
        int s = (int) seed;
        for (int i = 0; i < N; i++) {
            key[i] = s;
            s = 1812433253 * (s ^ (s >>> 30)) + i + 1;
        }
        // Position N forces a full state regeneration before the first output, as numpy does.
        pos = N;
    }

    /** The next raw 32-bit MT19937 output, as an unsigned value in {@code [0, 2^32)}. */
    public long nextUint32() {
        return Integer.toUnsignedLong(nextInt());
    }

    /**
     * The next 64-bit value as numpy's {@code mt19937_next64} builds it: the first 32-bit draw is the high half and the
     * second the low half. Returned as a Java long holding the same 64 bits (may be negative when read as signed).
     */
    public long nextUint64() {
        long hi = Integer.toUnsignedLong(nextInt());
        long lo = Integer.toUnsignedLong(nextInt());
        return (hi << 32) | lo;
    }

    /**
     * numpy's legacy {@code random_interval(max)}: a uniform value in {@code [0, max]} by masked rejection sampling.
     * Draws 32-bit words while {@code max <= 0xffffffff} and 64-bit words above, exactly as numpy does, so the number
     * of generator steps consumed matches too.
     *
     * @param max inclusive upper bound, {@code >= 0}
     */
    public long randomInterval(long max) {
        if (max < 0) {
            throw new IllegalArgumentException("randomInterval needs max >= 0, got " + max);
        }
        if (max == 0) {
            // numpy returns 0 here without consuming a draw; matching that keeps the stream aligned.
            return 0;
        }
        long mask = max;
        mask |= mask >>> 1;
        mask |= mask >>> 2;
        mask |= mask >>> 4;
        mask |= mask >>> 8;
        mask |= mask >>> 16;
        mask |= mask >>> 32;
        long value;
        if (max <= 0xffffffffL) {
            do {
                value = nextUint32() & mask;
            } while (value > max);
        } else {
            do {
                value = nextUint64() & mask;
            } while (value > max);
        }
        return value;
    }

    /** Shuffles {@code array} in place exactly as {@code RandomState.shuffle} does for a 1-D int32/uint32 ndarray. */
    public void shuffle(int[] array) {
        // Fisher-Yates from the end; numpy iterates i = n-1 down to 1 and swaps with j = random_interval(i).
        for (int i = array.length - 1; i >= 1; i--) {
            int j = (int) randomInterval(i);
            int tmp = array[i];
            array[i] = array[j];
            array[j] = tmp;
        }
    }

    /** Shuffles {@code array} in place exactly as {@code RandomState.shuffle} does for a 1-D int64 ndarray. */
    public void shuffle(long[] array) {
        for (int i = array.length - 1; i >= 1; i--) {
            int j = (int) randomInterval(i);
            long tmp = array[i];
            array[i] = array[j];
            array[j] = tmp;
        }
    }

    private int nextInt() {
        if (pos >= N) {
            regenerate();
        }
        int y = key[pos++];
        // MT19937 tempering.
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void regenerate() {
        int i = 0;
        for (; i < N - M; i++) {
            int y = (key[i] & UPPER_MASK) | (key[i + 1] & LOWER_MASK);
            key[i] = key[i + M] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
        }
        for (; i < N - 1; i++) {
            int y = (key[i] & UPPER_MASK) | (key[i + 1] & LOWER_MASK);
            key[i] = key[i + (M - N)] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
        }
        int y = (key[N - 1] & UPPER_MASK) | (key[0] & LOWER_MASK);
        key[N - 1] = key[M - 1] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
        pos = 0;
    }
}
