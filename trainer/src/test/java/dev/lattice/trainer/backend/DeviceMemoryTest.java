package dev.lattice.trainer.backend;

import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Megatron's memory report line, and no report where tensors live in the JVM heap. */
class DeviceMemoryTest {

    @Test
    void megatronsLineInMebibytes() {
        Backend.DeviceMemory m = new Backend.DeviceMemory(3L << 20, 5L << 20, 6L << 20, 3L << 21 | 1L << 19);
        assertEquals("[Rank 2] (after 20 iterations) memory (MB) | allocated: 3.0 | max allocated: 5.0 | reserved:"
                + " 6.0 | max reserved: 6.5", m.megatronLine(2, 20));
    }

    @Test
    void theCpuBackendHasNoDeviceMemory() {
        assertNull(new CpuBackend().deviceMemory());
    }
}
