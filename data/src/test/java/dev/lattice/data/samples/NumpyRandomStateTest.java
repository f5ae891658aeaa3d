package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Every expected value here was produced by numpy 2.4.6's legacy {@code RandomState}; none comes from this code.
 *
 * <pre>{@code
 * import numpy as np
 * for s in [0, 1, 1234, 2**32 - 1]:
 *     rs = np.random.RandomState(s); u32 = rs.randint(0, 2**32, size=5, dtype=np.uint64)   # == random_raw(5)
 *     rs = np.random.RandomState(s); u64 = rs.randint(0, 2**64, size=3, dtype=np.uint64)   # next64 = hi<<32|lo
 * rs = np.random.RandomState(42)
 * for mx in [1, 6, 1000, 2**31, 2**32-1, 2**32, 2**40+12345, 2**62+7]:
 *     rs.randint(0, mx + 1, size=4, dtype=np.uint64)        # legacy masked rejection == random_interval(mx)
 * for s in seeds: for n in [0, 1, 2, 10, 1000, 100000]:
 *     rs = np.random.RandomState(s); a = np.arange(n, dtype=np.int32); rs.shuffle(a)
 *     # n <= 10: the whole array; else a[:20] and sum(i * int(x) for i, x in enumerate(a))
 * rs = np.random.RandomState(7)
 * a = np.arange(1000, dtype=np.int64) * 3 + 5; rs.shuffle(a)   # then, on the same generator:
 * b = np.arange(10, dtype=np.uint32); rs.shuffle(b)
 * }</pre>
 */
class NumpyRandomStateTest {

    @Test
    void rawDrawsMatchNumpyForSeveralSeeds() {
        assertDraws(0, new long[] {2357136044L, 2546248239L, 3071714933L, 3626093760L, 2588848963L},
                new String[] {"10123822223749065263", "13192915183495924928", "11119021634053362427"});
        assertDraws(1, new long[] {1791095845L, 4282876139L, 3093770124L, 4005303368L, 491263L},
                new String[] {"7692698082559361259", "13287641507927168072", "2109959069025161"});
        assertDraws(1234, new long[] {822569775L, 2137449171L, 2671936806L, 3512589365L, 1880026316L},
                new String[] {"3532910284440527571", "11475881202261285941", "8074651545468362100"});
        assertDraws(4294967295L, new long[] {419326371L, 479346978L, 3918654476L, 2416749639L, 3388880820L},
                new String[] {"1800993050274709794", "16830492821160766535", "14555132294202195520"});
    }

    private static void assertDraws(long seed, long[] u32, String[] u64) {
        NumpyRandomState rs = new NumpyRandomState(seed);
        for (long expected : u32) {
            assertEquals(expected, rs.nextUint32(), "seed " + seed);
        }
        rs = new NumpyRandomState(seed);
        for (String expected : u64) {
            assertEquals(expected, Long.toUnsignedString(rs.nextUint64()), "seed " + seed);
        }
    }

    @Test
    void boundedIntervalMatchesLegacyMaskedRejectionOnBothWordSizes() {
        NumpyRandomState rs = new NumpyRandomState(42);
        long[][] cases = {
            {1L, 0, 1, 0, 0},
            {6L, 2, 4, 4, 6},
            {1000L, 121, 466, 214, 330},
            {1L << 31, 1972458954L, 1433267572L, 613608295L, 88409749L},
            {0xffffffffL, 242285876L, 4165731073L, 3100961111L, 3575313899L},
            {1L << 32, 1306710475L, 1855189739L, 1250819632L, 2627888186L},
            {(1L << 40) + 12345, 804732396495L, 1046221454143L, 576258013204L, 382104480059L},
            {(1L << 62) + 7, 1167461505679171825L, 294525462892317236L, 4259239222644958547L,
                4446135144388875630L},
        };
        for (long[] c : cases) {
            for (int k = 1; k < c.length; k++) {
                assertEquals(c[k], rs.randomInterval(c[0]), "max " + c[0] + " draw " + k);
            }
        }
    }

    @Test
    void smallShufflesMatchNumpyExactly() {
        assertShuffle(0, new int[] {2, 8, 4, 9, 1, 6, 7, 3, 0, 5});
        assertShuffle(1, new int[] {2, 9, 6, 4, 0, 3, 1, 7, 8, 5});
        assertShuffle(1234, new int[] {7, 2, 9, 1, 0, 8, 4, 5, 6, 3});
        assertShuffle(4294967295L, new int[] {6, 9, 5, 1, 8, 0, 7, 4, 2, 3});
        assertShuffle(0, new int[] {1, 0});
        assertShuffle(1, new int[] {0, 1});
        assertShuffle(1234, new int[] {0, 1});
        assertShuffle(4294967295L, new int[] {0, 1});
        for (long seed : new long[] {0, 1, 1234, 4294967295L}) {
            assertShuffle(seed, new int[] {0});
            assertShuffle(seed, new int[0]);
        }
    }

    private static void assertShuffle(long seed, int[] expected) {
        int[] a = arange(expected.length);
        new NumpyRandomState(seed).shuffle(a);
        assertArrayEquals(expected, a, "seed " + seed + " n " + expected.length);
    }

    @Test
    void largeShufflesMatchNumpyChecksums() {
        assertLargeShuffle(0, 1000, new int[] {993, 859, 298, 553, 672, 971, 27, 231, 306, 706, 496, 558, 784, 239,
            578, 55, 906, 175, 14, 77}, 247872640L);
        assertLargeShuffle(0, 100000, new int[] {3582, 60498, 53227, 21333, 3885, 51521, 84261, 10685, 59948, 41032,
            25747, 44303, 83813, 61991, 49392, 37116, 65942, 2216, 81749, 77996}, 249937372929313L);
        assertLargeShuffle(1, 1000, new int[] {507, 818, 452, 368, 242, 929, 262, 810, 318, 49, 446, 142, 968, 345,
            971, 133, 104, 6, 600, 496}, 249995299L);
        assertLargeShuffle(1, 100000, new int[] {43660, 87278, 14317, 81932, 95321, 5405, 33188, 63421, 72897, 9507,
            88624, 95115, 99243, 77045, 31791, 45417, 71963, 91216, 31924, 15134}, 250171542015738L);
        assertLargeShuffle(1234, 1000, new int[] {681, 990, 155, 768, 438, 363, 688, 555, 620, 99, 756, 428, 888, 89,
            982, 495, 29, 175, 466, 40}, 251398022L);
        assertLargeShuffle(1234, 100000, new int[] {13504, 72599, 42217, 97650, 99120, 13165, 56244, 72729, 10979,
            11794, 30261, 27441, 82623, 51042, 92194, 91810, 13266, 48317, 64118, 31116}, 249809377481287L);
        assertLargeShuffle(4294967295L, 1000, new int[] {94, 405, 819, 632, 217, 169, 449, 275, 165, 828, 959, 475,
            23, 136, 183, 341, 804, 882, 689, 909}, 249935792L);
        assertLargeShuffle(4294967295L, 100000, new int[] {85117, 19600, 4648, 56853, 35772, 22343, 76167, 23775,
            27230, 34000, 89532, 91476, 74975, 38776, 12024, 8406, 5950, 45865, 7517, 28832}, 250219665212733L);
    }

    private static void assertLargeShuffle(long seed, int n, int[] head, long weightedSum) {
        int[] a = arange(n);
        new NumpyRandomState(seed).shuffle(a);
        assertArrayEquals(head, Arrays.copyOf(a, head.length), "seed " + seed + " n " + n);
        long sum = 0;
        for (int i = 0; i < n; i++) {
            sum += (long) i * a[i];
        }
        assertEquals(weightedSum, sum, "seed " + seed + " n " + n);
        // Still a permutation: a shuffle must neither lose nor duplicate entries.
        int[] sorted = a.clone();
        Arrays.sort(sorted);
        assertArrayEquals(arange(n), sorted);
    }

    @Test
    void consecutiveShufflesContinueTheSameStreamAndLongArraysShuffleAlike() {
        NumpyRandomState rs = new NumpyRandomState(7);
        long[] a = new long[1000];
        for (int i = 0; i < a.length; i++) {
            a[i] = 3L * i + 5;
        }
        rs.shuffle(a);
        assertArrayEquals(new long[] {2339, 1007, 818, 2411, 653, 1229, 2441, 287, 1466, 515, 77, 731, 1631, 2795,
            2663, 1283, 380, 1364, 1955, 2744}, Arrays.copyOf(a, 20));
        long sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += i * a[i];
        }
        assertEquals(741104433L, sum);
        int[] b = arange(10);
        rs.shuffle(b);
        assertArrayEquals(new int[] {2, 1, 3, 0, 5, 7, 8, 4, 6, 9}, b);
    }

    @Test
    void rejectsSeedsNumpyRejects() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new NumpyRandomState(-1));
        assertTrue(e.getMessage().contains("2**32 - 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new NumpyRandomState(1L << 32));
    }

    static int[] arange(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        return a;
    }
}
