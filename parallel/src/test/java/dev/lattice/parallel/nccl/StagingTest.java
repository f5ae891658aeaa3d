package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.DeviceCommBuffer;
import dev.lattice.parallel.comm.HostBuffer;
import org.junit.jupiter.api.Test;

import static org.bytedeco.cuda.global.nccl.ncclBfloat16;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The element-type rules of an NCCL operation's operands (no GPU needed: nothing is copied or launched here): bf16
 * device buffers travel as ncclBfloat16 at 2 bytes per element, fp32 ones and host arrays as ncclFloat32, and an
 * operation whose operands disagree is refused naming both kinds (NCCL converts nothing).
 */
class StagingTest {

    /** A device buffer that only says where it is (never dereferenced here). */
    private record Fake(long devicePointer, int device, int elementBytes, long size) implements DeviceCommBuffer {
    }

    @Test
    void bf16OperandsTravelAsBf16AtTwoBytesAnElement() {
        Staging st = new Staging("allGather of group dp[0,1]", 0);
        Staging.Operand a = st.add(new Fake(4096, 0, 2, 100), 10, 20, true, false);
        Staging.Operand b = st.add(new Fake(8192, 0, 2, 100), 0, 40, false, true);
        assertEquals(ncclBfloat16, st.dataType());
        assertEquals(2, st.elementBytes());
        assertEquals(4096 + 2 * 10, a.address(), "element 10 of a bf16 buffer is 20 bytes in");
        assertEquals(80, b.bytes());
        assertFalse(st.anyStaged());
    }

    @Test
    void fp32DeviceAndHostOperandsTravelAsFp32() {
        Staging st = new Staging("allReduce of group tp[0,1]", 0);
        Staging.Operand d = st.add(new Fake(4096, 0, 4, 100), 10, 20, true, true);
        st.add(new HostBuffer(new float[8]), 0, 8, true, true);
        assertEquals(ncclFloat32, st.dataType());
        assertEquals(4096 + 4 * 10, d.address());
        assertTrue(st.anyStaged(), "the host array goes through scratch");
    }

    @Test
    void mixedElementTypesAreRefusedNamingBoth() {
        Staging st = new Staging("reduceScatter of group dp[0,1]", 0);
        st.add(new Fake(4096, 0, 2, 100), 0, 100, true, false);
        st.add(new Fake(8192, 0, 4, 50), 0, 50, false, true);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, st::dataType);
        assertTrue(e.getMessage().contains("reduceScatter of group dp[0,1]")
                && e.getMessage().contains("bf16 device and fp32 device"), e.getMessage());
        Staging host = new Staging("send to rank 1", 0);
        host.add(new Fake(4096, 0, 2, 10), 0, 10, true, false);
        host.add(new HostBuffer(new float[10]), 0, 10, false, true);
        assertTrue(assertThrows(IllegalArgumentException.class, host::dataType).getMessage()
                .contains("bf16 device and fp32 host"));
        IllegalArgumentException odd = assertThrows(IllegalArgumentException.class,
                () -> new Staging("broadcast", 0).add(new Fake(4096, 0, 8, 10), 0, 10, true, true));
        assertTrue(odd.getMessage().contains("NCCL moves fp32 (4) or bf16 (2)"), odd.getMessage());
    }
}
