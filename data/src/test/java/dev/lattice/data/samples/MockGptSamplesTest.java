package dev.lattice.data.samples;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Megatron's mock data: a pure function of (seed, index), next-token labels, ids inside the vocabulary. */
class MockGptSamplesTest {

    @Test
    void samplesAreReproducibleShiftedAndInsideTheVocabulary() {
        MockGptSamples a = new MockGptSamples(100, 32, 50, 7);
        MockGptSamples b = new MockGptSamples(100, 32, 50, 7);
        assertEquals(100, a.size());
        for (int i : new int[] {0, 1, 57, 99}) {
            GptSample x = a.sample(i);
            GptSample y = b.sample(i);
            assertArrayEquals(x.tokens(), y.tokens(), "sample " + i + " is a function of (seed, index)");
            assertArrayEquals(Arrays.copyOfRange(x.tokens(), 1, 32), Arrays.copyOfRange(x.labels(), 0, 31),
                    "labels are the next tokens");
            assertTrue(Arrays.stream(x.tokens()).allMatch(t -> t >= 0 && t < 50));
            assertTrue(Arrays.stream(x.labels()).allMatch(t -> t >= 0 && t < 50));
            for (float m : x.lossMask()) {
                assertEquals(1f, m);
            }
        }
        assertFalse(Arrays.equals(a.sample(0).tokens(), a.sample(1).tokens()));
        assertFalse(Arrays.equals(a.sample(0).tokens(), new MockGptSamples(100, 32, 50, 8).sample(0).tokens()));
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new MockGptSamples(10, 0, 50, 1));
        assertThrows(IllegalArgumentException.class, () -> new MockGptSamples(10, 8, 0, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> new MockGptSamples(10, 8, 50, 1).sample(10));
    }
}
