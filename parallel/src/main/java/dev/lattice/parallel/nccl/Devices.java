package dev.lattice.parallel.nccl;

import dev.lattice.parallel.cuda.Cuda;

import static org.bytedeco.cuda.global.cudart.cudaGetDevice;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

/** Runs work on a given device from any thread, restoring the thread's current device afterwards. */
final class Devices {

    private Devices() {
    }

    /**
     * For calls that may come from a thread other than the rank's (abort from a watchdog or from another rank's
     * thread, closeRank from a completion listener): switching that thread's device for good would break its own
     * CUDA work.
     */
    static void on(int device, Runnable work) {
        int[] previous = new int[1];
        Cuda.check(cudaGetDevice(previous), "cudaGetDevice");
        if (previous[0] != device) {
            Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        }
        try {
            work.run();
        } finally {
            if (previous[0] != device) {
                cudaSetDevice(previous[0]);
            }
        }
    }
}
