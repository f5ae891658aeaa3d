package dev.lattice.trainer.model;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Megatron's flags: --recompute-activations is shorthand for selective; --recompute-granularity names the choice. */
class RecomputationTest {

    @Test
    void megatronFlagsChooseTheGranularity() {
        assertEquals(Recomputation.NONE, Recomputation.fromFlags(false, null));
        assertEquals(Recomputation.SELECTIVE, Recomputation.fromFlags(true, null));
        assertEquals(Recomputation.SELECTIVE, Recomputation.fromFlags(false, "selective"));
        assertEquals(Recomputation.FULL, Recomputation.fromFlags(false, "full"));
        assertEquals(Recomputation.FULL, Recomputation.fromFlags(true, "full"), "the granularity wins, as in Megatron");
    }

    @Test
    void flagsRoundTrip() {
        for (Recomputation r : Recomputation.values()) {
            List<String> f = r.flags();
            assertEquals(r, Recomputation.fromFlags(false, f.isEmpty() ? null : f.get(1)));
        }
    }

    @Test
    void anUnknownGranularityIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Recomputation.fromFlags(false, "partial"));
        assertTrue(e.getMessage().contains("--recompute-granularity partial")
                && e.getMessage().contains("full or selective"), e.getMessage());
    }
}
