package dev.lattice.spark.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeviceAssignmentTest {

    @Test
    void physicalAddressBecomesItsPositionInCudaVisibleDevices() {
        // executor sees GPUs 4,5,6,7; Spark assigned physical GPU 6 -> CUDA ordinal 2
        assertEquals("cuda:2", DeviceAssignment.resolve(new String[]{"6"}, "4,5,6,7", false, 0, 0).toString());
    }

    @Test
    void addressWithoutVisibleDevicesIsTheOrdinal() {
        assertEquals("cuda:3", DeviceAssignment.resolve(new String[]{"3"}, null, false, 0, 0).toString());
    }

    @Test
    void addressThatIsAnIndexIntoVisibleDevicesIsTakenAsOrdinal() {
        // container runtimes renumber: CUDA_VISIBLE_DEVICES=GPU uuids, Spark reports 0..n-1
        assertEquals("cuda:1", DeviceAssignment.resolve(new String[]{"1"}, "GPU-a,GPU-b", false, 0, 0).toString());
    }

    @Test
    void addressOutsideVisibleDevicesIsAnError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolve(new String[]{"7"}, "0,1", false, 0, 0));
        assertTrue(e.getMessage().contains("CUDA_VISIBLE_DEVICES=0,1"), e.getMessage());
    }

    @Test
    void twoGpusPerTaskIsAnError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolve(new String[]{"0", "1"}, null, false, 0, 0));
        assertTrue(e.getMessage().contains("spark.task.resource.gpu.amount=1"), e.getMessage());
    }

    @Test
    void localModeUsesTheLocalIndexWhenTheHostHasGpus() {
        assertEquals("cuda:1", DeviceAssignment.resolve(new String[0], null, true, 1, 2).toString());
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolve(new String[0], null, true, 2, 2));
        assertTrue(e.getMessage().contains("local index 2"), e.getMessage());
    }

    @Test
    void noGpusMeansCpu() {
        assertEquals("cpu", DeviceAssignment.resolve(null, null, true, 3, 0).toString());
        assertEquals("cpu", DeviceAssignment.resolve(new String[0], "0", false, 0, 0).toString());
    }

    @Test
    void twoRanksOnOneGpuOfOneHostAreRejected() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> DeviceAssignment.checkDistinct(
                new String[]{"0|hostA|cuda:0|9", "1|hostA|cuda:1|9", "2|hostA|cuda:0|9"}));
        assertTrue(e.getMessage().contains("ranks 0 and 2") && e.getMessage().contains("hostA"), e.getMessage());
    }

    @Test
    void sameOrdinalOnDifferentHostsOrCpuRanksAreFine() {
        assertDoesNotThrow(() -> DeviceAssignment.checkDistinct(
                new String[]{"0|hostA|cuda:0|9", "1|hostB|cuda:0|9", "2|hostA|cpu|9", "3|hostA|cpu|9"}));
    }

    @Test
    void cudaRanksInAClusterTrainOnTheirSparkGpu() {
        assertEquals("cuda:2", DeviceAssignment.resolveCuda(new String[]{"6"}, "4,5,6,7", false, 0, 0, 4)
                .toString());
        IllegalStateException none = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolveCuda(new String[0], null, false, 0, 0, 8));
        assertTrue(none.getMessage().contains("Spark assigned this task no GPU")
                && none.getMessage().contains("spark.task.resource.gpu.amount=1"), none.getMessage());
        IllegalStateException unseen = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolveCuda(new String[]{"3"}, null, false, 0, 0, 2));
        assertTrue(unseen.getMessage().contains("CUDA device 3, but this executor sees 2"), unseen.getMessage());
    }

    @Test
    void cudaRanksInLocalModeTakeTheHostsGpuOfTheirIndexAfterTheOffset() {
        assertEquals("cuda:1", DeviceAssignment.resolveCuda(new String[0], null, true, 1, 0, 2).toString());
        assertEquals("cuda:3", DeviceAssignment.resolveCuda(null, null, true, 1, 2, 4).toString());
        IllegalStateException few = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolveCuda(new String[0], null, true, 2, 0, 2));
        assertTrue(few.getMessage().contains("local index 2 has no GPU"), few.getMessage());
        IllegalStateException offset = assertThrows(IllegalStateException.class,
                () -> DeviceAssignment.resolveCuda(new String[0], null, true, 0, 2, 2));
        assertTrue(offset.getMessage().contains("--device-offset 2"), offset.getMessage());
    }
}
