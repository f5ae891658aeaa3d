package dev.lattice.trainer.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Values worked out by hand from Megatron's OptimizerParamScheduler.get_lr. */
class LearningRateScheduleTest {

    @Test
    void warmupThenCosineToMinLr() {
        LearningRateSchedule s = new LearningRateSchedule(1e-3, 1e-4, 10, 110,
                LearningRateSchedule.Style.COSINE);
        assertEquals(0.0, s.at(0), 0, "Megatron's first warmup step runs at lr 0");
        assertEquals(5e-4, s.at(5), 1e-15);
        assertEquals(1e-3, s.at(10), 1e-15);
        // halfway through decay: coeff = 0.5 * (cos(pi/2) + 1) = 0.5
        assertEquals(1e-4 + 0.5 * 9e-4, s.at(60), 1e-15);
        assertEquals(1e-4, s.at(110), 1e-15);
        assertEquals(1e-4, s.at(500), 0);
    }

    @Test
    void linearAndConstant() {
        LearningRateSchedule lin = new LearningRateSchedule(2.0, 0.0, 0, 100, LearningRateSchedule.Style.LINEAR);
        assertEquals(2.0, lin.at(0), 0);
        assertEquals(1.5, lin.at(25), 1e-12);
        assertEquals(0.0, lin.at(100), 1e-12);
        LearningRateSchedule c = new LearningRateSchedule(3.0, 0.0, 4, 100, LearningRateSchedule.Style.CONSTANT);
        assertEquals(1.5, c.at(2), 1e-12);
        assertEquals(3.0, c.at(50), 0);
    }

    @Test
    void badSettingsNameTheFlag() {
        assertThrows(IllegalArgumentException.class,
                () -> new LearningRateSchedule(1e-3, 1e-2, 0, 10, LearningRateSchedule.Style.LINEAR));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LearningRateSchedule.Style.parse("exponential"));
        assertEquals("--lr-decay-style exponential: expected constant, linear or cosine", e.getMessage());
    }
}
