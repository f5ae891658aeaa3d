package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Expected ranges come from the spec's example and from Megatron's own formulas run in Python:
 *
 * <pre>{@code
 * v = list(map(float, re.findall(r"[.0-9]+", s))); v += [0.0] * (3 - len(v))
 * w = (np.array(v) / np.sum(v)).tolist()
 * e = functools.reduce(lambda a, b: a + [a[len(a)-1] + b], [[0], *w]); bookends = zip(e[:-1], e[1:])
 * ranges = [None if b1 <= b0 else (int(round(b0 * float(N))), int(round(b1 * float(N)))) for b0, b1 in bookends]
 * }</pre>
 */
class SplitSpecTest {

    @Test
    void specExampleFor12345Sequences() {
        List<SplitSpec.Range> r = SplitSpec.parse("969,30,1").ranges(12345);
        assertEquals(new SplitSpec.Range(0, 11962), r.get(0));
        assertEquals(new SplitSpec.Range(11962, 12333), r.get(1));
        assertEquals(new SplitSpec.Range(12333, 12345), r.get(2));
        assertEquals(new SplitSpec.Range(11962, 12333), SplitSpec.parse("969,30,1").range(Split.VALID, 12345));
        assertArrayEquals(new int[] {12333, 12334, 12335, 12336, 12337, 12338, 12339, 12340, 12341, 12342, 12343,
            12344}, r.get(2).indices());
        assertEquals(12, r.get(2).length());
    }

    @Test
    void matchesPythonForOtherSplits() {
        assertRanges("969, 30, 1", 1000, new int[] {0, 969}, new int[] {969, 999}, new int[] {999, 1000});
        assertRanges("99,1", 1000, new int[] {0, 990}, new int[] {990, 1000}, null);
        assertRanges("1", 7, new int[] {0, 7}, null, null);
        // 0.5 * 5 = 2.5 rounds half to even: 2, where Math.round would give 3.
        assertRanges("1,1", 5, new int[] {0, 2}, new int[] {2, 5}, null);
        assertRanges("0,1,0", 10, null, new int[] {0, 10}, null);
        assertRanges("98,2,0", 101, new int[] {0, 99}, new int[] {99, 101}, null);
        assertRanges("1,1,1", 10, new int[] {0, 3}, new int[] {3, 7}, new int[] {7, 10});
    }

    private static void assertRanges(String spec, int n, int[]... expected) {
        List<SplitSpec.Range> r = SplitSpec.parse(spec).ranges(n);
        for (int i = 0; i < 3; i++) {
            if (expected[i] == null) {
                assertNull(r.get(i), spec + " split " + i);
            } else {
                assertEquals(new SplitSpec.Range(expected[i][0], expected[i][1]), r.get(i), spec + " split " + i);
            }
        }
    }

    @Test
    void matrixAndWeightsMatchPythonFloats() {
        SplitSpec s = SplitSpec.parse("1,1,1");
        assertArrayEquals(new double[] {0.3333333333333333, 0.3333333333333333, 0.3333333333333333}, s.weights());
        List<double[]> m = s.matrix();
        assertArrayEquals(new double[] {0, 0.3333333333333333}, m.get(0));
        assertArrayEquals(new double[] {0.3333333333333333, 0.6666666666666666}, m.get(1));
        assertArrayEquals(new double[] {0.6666666666666666, 1.0}, m.get(2));
        // The first bookend start is Python's int 0, everything else a float.
        assertEquals(Arrays.asList(Arrays.asList(0L, 0.969), Arrays.asList(0.969, 0.999), Arrays.asList(0.999, 1.0)),
                SplitSpec.parse("969,30,1").matrixForDescription());
        assertEquals(Arrays.asList(null, Arrays.asList(0.0, 1.0), null),
                SplitSpec.parse("0,1,0").matrixForDescription());
    }

    @Test
    void errorsNameTheStringAndWhatWasExpected() {
        assertError("", "holds no number");
        assertError("train", "holds no number");
        assertError("969,-30,1", "minus sign");
        assertError("0,0,0", "every split weight 0");
        assertError("1,2,3,4", "at most 3");
        assertError("1.2.3", "malformed number");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SplitSpec.parse(null));
        assertTrue(e.getMessage().contains("969,30,1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SplitSpec.parse("1").ranges(-1));
    }

    private static void assertError(String spec, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SplitSpec.parse(spec));
        assertTrue(e.getMessage().contains("\"" + spec + "\""), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }
}
