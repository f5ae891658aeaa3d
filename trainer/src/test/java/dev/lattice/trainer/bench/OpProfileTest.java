package dev.lattice.trainer.bench;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The synchronised per-call profile on the CPU backend: what it counts, and that the wrapped calls behave as before. */
class OpProfileTest {

    @Test
    void countsCallsWhileStartedAndLeavesResultsAndErrorsAlone() {
        CpuBackend cpu = new CpuBackend();
        OpProfile profile = new OpProfile();
        Backend be = profile.wrap(cpu);
        Tensor a = be.fromHost(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor b = be.fromHost(new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
        Tensor c = be.zeros(2, 2);
        be.matmul(c, a, false, b, false, 2, 2, 3, 1f, 0f); // before start: not counted
        profile.start();
        be.matmul(c, a, false, b, false, 2, 2, 3, 1f, 0f);
        be.add(c, c, c);
        profile.stop();
        assertArrayEquals(new float[] {8, 10, 20, 22}, be.toHost(c));
        String table = profile.render(1);
        assertTrue(table.contains("matmul 2x2x3") && table.contains("add"), table);
        assertFalse(table.contains("toHost"), table);
        // the wrapped backend's own exception, not the reflection wrapper
        assertThrows(IllegalArgumentException.class, () -> be.fromHost(new float[3], 2, 2));
    }
}
