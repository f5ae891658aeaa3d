package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import java.util.HashMap;
import java.util.Map;

import static org.bytedeco.cuda.global.cudart.*;

/**
 * A loaded cubin and launches of its kernels. Arguments are written into one reusable native block (8 bytes a
 * slot) whose slot addresses form the {@code void**} that cuLaunchKernel copies at launch, so a launch allocates
 * nothing native. One module serves one thread (a rank's backend).
 */
final class KernelModule {

    private static final int SLOTS = 24;

    private final CUmod_st module = new CUmod_st();
    private final Map<String, CUfunc_st> functions = new HashMap<>();
    private final BytePointer argBlock = new BytePointer(8L * SLOTS);
    private final PointerPointer<Pointer> argPointers = new PointerPointer<>(SLOTS);
    private final String name;

    KernelModule(byte[] cubin, String name) {
        this.name = name;
        BytePointer image = new BytePointer(cubin.length);
        image.put(cubin);
        Cuda.checkDriver(cuModuleLoadData(module, image), "cuModuleLoadData " + name);
        for (int i = 0; i < SLOTS; i++) {
            argPointers.put(i, DevicePointers.at(argBlock.address() + 8L * i));
        }
    }

    private CUfunc_st function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUfunc_st f = new CUfunc_st();
            Cuda.checkDriver(cuModuleGetFunction(f, module, k), "cuModuleGetFunction " + k + " in " + name);
            return f;
        });
    }

    /**
     * Launches {@code kernel} with the given arguments: a {@link CudaTensor} or {@link CudaTensor.Ptr} (its address;
     * its storage sets the argument's bit in the trailing mask), {@code Long} = raw device pointer or i64,
     * {@code Integer}, {@code Float}, {@code Double}; a null is a null pointer. Every kernel's last parameter is that
     * {@code int bf} mask (bit k set = argument k is bf16), appended here.
     */
    void launch(CUstream_st stream, String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args) {
        if (args.length + 1 > SLOTS) {
            throw new IllegalArgumentException(kernel + ": too many arguments");
        }
        int mask = 0;
        for (int i = 0; i < args.length; i++) {
            long off = 8L * i;
            Object a = args[i];
            if (a == null) {
                argBlock.putLong(off, 0L);
            } else if (a instanceof CudaTensor t) {
                argBlock.putLong(off, t.address());
                mask |= t.isBf16() ? 1 << i : 0;
            } else if (a instanceof CudaTensor.Ptr p) {
                argBlock.putLong(off, p.address());
                mask |= p.bf16() ? 1 << i : 0;
            } else if (a instanceof Long l) {
                argBlock.putLong(off, l);
            } else if (a instanceof Integer n) {
                argBlock.putInt(off, n);
            } else if (a instanceof Float f) {
                argBlock.putFloat(off, f);
            } else if (a instanceof Double d) {
                argBlock.putDouble(off, d);
            } else {
                throw new IllegalArgumentException(kernel + ": unsupported argument " + a.getClass());
            }
        }
        argBlock.putInt(8L * args.length, mask);
        if (gridX <= 0 || gridY <= 0) {
            return; // nothing to do (empty tensor)
        }
        Cuda.checkDriver(cuLaunchKernel(function(kernel), gridX, gridY, 1, block, 1, 1, sharedBytes, stream,
                argPointers, (PointerPointer<?>) null), "launch of " + kernel);
    }

    /** "registers R, local bytes L" of a kernel (cuFuncGetAttribute): whether it spills, how many blocks fit. */
    String resources(String kernel) {
        int[] regs = new int[1];
        int[] local = new int[1];
        Cuda.checkDriver(cuFuncGetAttribute(regs, CU_FUNC_ATTRIBUTE_NUM_REGS, function(kernel)), "cuFuncGetAttribute");
        Cuda.checkDriver(cuFuncGetAttribute(local, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, function(kernel)),
                "cuFuncGetAttribute");
        return "registers " + regs[0] + ", local bytes " + local[0];
    }

    void close() {
        cuModuleUnload(module);
    }
}
