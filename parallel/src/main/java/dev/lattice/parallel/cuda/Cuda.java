package dev.lattice.parallel.cuda;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;

/**
 * Whether this process can use CUDA, and error checking that names the failed operation. The bindings
 * ({@code org.bytedeco:cuda}) carry only JNI wrappers: the CUDA 13 libraries must be on the library path (on the
 * lent GPU machines, {@code source .gpu/cuda-env.sh}). Machines without them (CI) get {@code false} here and the GPU
 * tests skip.
 */
public final class Cuda {

    private static volatile Boolean available;
    private static volatile String unavailableReason = "";

    private Cuda() {
    }

    /** Whether the CUDA runtime loads and sees at least one device. */
    public static boolean available() {
        Boolean a = available;
        if (a == null) {
            synchronized (Cuda.class) {
                if (available == null) {
                    available = probe();
                }
                a = available;
            }
        }
        return a;
    }

    /** Why {@link #available()} is false (empty when it is true). */
    public static String unavailableReason() {
        available();
        return unavailableReason;
    }

    private static boolean probe() {
        try {
            Loader.load(cudart.class);
            int[] n = new int[1];
            int rc = cudart.cudaGetDeviceCount(n);
            if (rc != 0) {
                unavailableReason = "cudaGetDeviceCount failed: " + errorString(rc);
                return false;
            }
            if (n[0] == 0) {
                unavailableReason = "no CUDA device";
                return false;
            }
            return true;
        } catch (Throwable t) {
            unavailableReason = "CUDA runtime not loadable (" + t + "); on a GPU machine source cuda-env.sh first";
            return false;
        }
    }

    /** Number of visible CUDA devices (0 when CUDA is unavailable). */
    public static int deviceCount() {
        if (!available()) {
            return 0;
        }
        int[] n = new int[1];
        check(cudart.cudaGetDeviceCount(n), "cudaGetDeviceCount");
        return n[0];
    }

    /** Throws {@link CudaException} naming {@code op} when a runtime call did not return cudaSuccess. */
    public static void check(int rc, String op) {
        if (rc != 0) {
            throw new CudaException(op + " failed: " + errorString(rc) + " (cudaError " + rc + ")");
        }
    }

    /** Throws naming {@code op} when a driver API call did not return CUDA_SUCCESS. */
    public static void checkDriver(int rc, String op) {
        if (rc != 0) {
            throw new CudaException(op + " failed: CUresult " + rc);
        }
    }

    static String errorString(int rc) {
        try {
            BytePointer s = cudart.cudaGetErrorString(rc);
            return s == null ? "error " + rc : s.getString();
        } catch (Throwable t) {
            return "error " + rc;
        }
    }
}
