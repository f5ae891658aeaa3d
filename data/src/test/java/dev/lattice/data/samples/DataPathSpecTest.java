package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class DataPathSpecTest {

    @Test
    void weightPrefixPairs() {
        DataPathSpec s = DataPathSpec.parse(List.of("0.3", "/data/a_text_document", "70", " /data/b_text_document "));
        assertTrue(s.weighted());
        assertEquals(List.of("/data/a_text_document", "/data/b_text_document"), s.prefixes());
        assertEquals(List.of(0.3, 70.0), s.weights());
        assertArrayEquals(new double[] {0.3, 70.0}, s.weightArray());
        assertEquals(2, s.size());
        assertEquals(List.of(1e-3, 2.0),
                DataPathSpec.parse(List.of("1e-3", "a", ".2e1", "b")).weights());
    }

    @Test
    void prefixesOnlyForOddLengthOrAllNonNumericWeightPositions() {
        DataPathSpec odd = DataPathSpec.parse(List.of("/data/a"));
        assertFalse(odd.weighted());
        assertNull(odd.weights());
        assertNull(odd.weightArray());
        assertEquals(List.of("/data/a"), odd.prefixes());
        assertEquals(List.of("a", "b", "c"), DataPathSpec.parse(List.of("a", "b", "c")).prefixes());
        // Even length but no numbers where weights would be: Megatron treats every token as a prefix.
        DataPathSpec even = DataPathSpec.parse(List.of("/data/a", "/data/b"));
        assertFalse(even.weighted());
        assertEquals(List.of("/data/a", "/data/b"), even.prefixes());
    }

    @Test
    void errorsNameTheBadToken() {
        assertMessage(List.of("0.3", "a", "b", "c"), "\"b\"");
        assertMessage(List.of("0", "a", "1", "b"), "\"0\"");
        assertMessage(List.of("-0.5", "a", "1", "b"), "\"-0.5\"");
        assertMessage(List.of("0.5", " ", "1", "b"), "token 2");
        assertMessage(List.of(), "empty");
    }

    private static void assertMessage(List<String> tokens, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DataPathSpec.parse(tokens));
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }
}
