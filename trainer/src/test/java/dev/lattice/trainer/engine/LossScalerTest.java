package dev.lattice.trainer.engine;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Megatron's dynamic grad scaler rules, step by step. */
class LossScalerTest {

    @Test
    void halvesAfterHysteresisOverflowsAndNotBelowTheFloor() {
        LossScaler s = LossScaler.dynamic(1024, 256, 1000, 2);
        s.update(true);
        assertEquals(1024, s.scale(), "the first overflow is tolerated (hysteresis 2)");
        s.update(true);
        assertEquals(512, s.scale());
        s.update(true);
        assertEquals(256, s.scale(), "hysteresis is not refilled by overflows");
        s.update(true);
        assertEquals(256, s.scale(), "floor");
    }

    @Test
    void doublesAfterAWindowOfCleanIterations() {
        LossScaler s = LossScaler.dynamic(8, 1, 3, 1);
        s.update(false);
        s.update(false);
        assertEquals(8, s.scale());
        s.update(false);
        assertEquals(16, s.scale());
        s.update(false);
        s.update(true); // resets the clean run
        assertEquals(8, s.scale());
        s.update(false);
        s.update(false);
        assertEquals(8, s.scale());
        s.update(false);
        assertEquals(16, s.scale());
    }

    @Test
    void constantNeverChangesAndBadSettingsAreRejected() {
        LossScaler s = LossScaler.constant(128);
        s.update(true);
        s.update(false);
        assertEquals(128, s.scale());
        assertThrows(IllegalArgumentException.class, () -> LossScaler.dynamic(0, 1, 10, 2));
        assertThrows(IllegalArgumentException.class, () -> LossScaler.dynamic(8, 1, 0, 2));
    }
}
