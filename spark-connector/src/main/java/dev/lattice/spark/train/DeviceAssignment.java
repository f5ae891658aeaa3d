package dev.lattice.spark.train;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which device a rank uses (shared/reference/spark-notes.md §2): the GPU Spark assigned the task in cluster modes —
 * an address mapped through {@code CUDA_VISIBLE_DEVICES} to a CUDA ordinal —, the rank's local index in
 * {@code local[N]} (where Spark assigns no resources) when the node has GPUs, the CPU otherwise. Two ranks on one
 * device of one host is an error, not a slowdown.
 */
public final class DeviceAssignment {

    /** A rank's device: {@code cpu} or {@code cuda:<ordinal>}. */
    public record Device(boolean gpu, int ordinal) {

        public static final Device CPU = new Device(false, -1);

        @Override
        public String toString() {
            return gpu ? "cuda:" + ordinal : "cpu";
        }
    }

    private DeviceAssignment() {
    }

    /**
     * @param gpuAddresses the task's Spark GPU addresses (empty when Spark assigned none)
     * @param cudaVisibleDevices the executor's {@code CUDA_VISIBLE_DEVICES}, or null
     * @param localMode whether Spark runs in local mode
     * @param localIndex the rank's index among the ranks of its host (its partition id in local mode)
     * @param gpusOnHost GPUs the host offers in local mode (0 = none: the CPU backend)
     */
    public static Device resolve(String[] gpuAddresses, String cudaVisibleDevices, boolean localMode, int localIndex,
                                 int gpusOnHost) {
        if (gpuAddresses != null && gpuAddresses.length > 0) {
            if (gpuAddresses.length > 1) {
                throw new IllegalStateException("a rank was given " + gpuAddresses.length + " GPUs "
                        + Arrays.toString(gpuAddresses) + "; set spark.task.resource.gpu.amount=1");
            }
            return new Device(true, ordinal(gpuAddresses[0], cudaVisibleDevices));
        }
        if (localMode && gpusOnHost > 0) {
            if (localIndex >= gpusOnHost) {
                throw new IllegalStateException("rank with local index " + localIndex + " has no GPU: the host has "
                        + gpusOnHost + " (use local[" + gpusOnHost + "] or a smaller --world-size)");
            }
            return new Device(true, localIndex);
        }
        return Device.CPU;
    }

    /**
     * The device of a rank that trains with {@code --devices cuda} on an executor where CUDA works: the GPU Spark
     * assigned the task (cluster modes), or in {@code local[N]} (Spark assigns none there) GPU
     * {@code deviceOffset + localIndex} of the host.
     *
     * @param visibleGpus CUDA devices this executor sees
     * @throws IllegalStateException naming what is missing: no GPU assigned, more than one, too few GPUs on the
     *     host, or an assigned GPU this process cannot see
     */
    public static Device resolveCuda(String[] gpuAddresses, String cudaVisibleDevices, boolean localMode,
                                     int localIndex, int deviceOffset, int visibleGpus) {
        boolean assigned = gpuAddresses != null && gpuAddresses.length > 0;
        if (!assigned && !localMode) {
            throw new IllegalStateException("--devices cuda, but Spark assigned this task no GPU; set"
                    + " spark.task.resource.gpu.amount=1 and spark.executor.resource.gpu.amount (with a GPU"
                    + " discovery script)");
        }
        if (assigned) {
            Device d = resolve(gpuAddresses, cudaVisibleDevices, localMode, localIndex, 0);
            if (d.ordinal() >= visibleGpus) {
                throw new IllegalStateException("--devices cuda: Spark GPU address " + gpuAddresses[0]
                        + " is CUDA device " + d.ordinal() + ", but this executor sees " + visibleGpus
                        + " GPU(s) (CUDA_VISIBLE_DEVICES=" + cudaVisibleDevices + ")");
            }
            return d;
        }
        int usable = visibleGpus - deviceOffset;
        if (usable <= 0) {
            throw new IllegalStateException("--devices cuda: the host sees " + visibleGpus + " GPU(s), none from"
                    + " --device-offset " + deviceOffset + " on");
        }
        Device d = resolve(null, cudaVisibleDevices, true, localIndex, usable);
        return new Device(true, deviceOffset + d.ordinal());
    }

    /**
     * The CUDA ordinal of Spark GPU address {@code address}: discovery scripts report physical ids, which become
     * ordinals by their position in {@code CUDA_VISIBLE_DEVICES}; an address that is already an index into that
     * list is taken as the ordinal.
     */
    static int ordinal(String address, String cudaVisibleDevices) {
        if (cudaVisibleDevices == null || cudaVisibleDevices.isBlank()) {
            return parse(address);
        }
        List<String> visible = Arrays.stream(cudaVisibleDevices.split(",")).map(String::trim).toList();
        int at = visible.indexOf(address.trim());
        if (at >= 0) {
            return at;
        }
        int index = parse(address);
        if (index < visible.size()) {
            return index;
        }
        throw new IllegalStateException("Spark GPU address " + address + " is neither in CUDA_VISIBLE_DEVICES="
                + cudaVisibleDevices + " nor an index into it");
    }

    private static int parse(String address) {
        try {
            return Integer.parseInt(address.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException("Spark GPU address '" + address + "' is not a device number");
        }
    }

    /**
     * Checks the rendezvous reports ({@code rank|host|device}) for two ranks on one GPU of one host.
     *
     * @throws IllegalStateException naming both ranks, the host and the device
     */
    public static void checkDistinct(String[] reports) {
        Map<String, String> seen = new HashMap<>();
        for (String r : reports) {
            String[] f = r.split("\\|");
            if (f[2].equals("cpu")) {
                continue;
            }
            String key = f[1] + "/" + f[2];
            String other = seen.putIfAbsent(key, f[0]);
            if (other != null) {
                throw new IllegalStateException("ranks " + other + " and " + f[0] + " were both given " + f[2]
                        + " on host " + f[1] + "; each rank needs a GPU of its own");
            }
        }
    }
}
