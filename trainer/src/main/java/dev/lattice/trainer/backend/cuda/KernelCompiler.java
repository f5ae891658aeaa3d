package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.CudaException;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.bytedeco.cuda.global.nvrtc.*;

/**
 * CUDA C → cubin with NVRTC for the GPU in hand ({@code sm_XY}), cached on disk by the hash of source, options and
 * NVRTC version ({@code $LATTICE_KERNEL_CACHE}, else {@code ~/.cache/lattice/kernels}), so a run compiles each
 * module once per machine. Compile errors carry NVRTC's log.
 */
final class KernelCompiler {

    private KernelCompiler() {
    }

    static byte[] compile(String source, String name, int smVersion, List<String> defines) {
        List<String> options = new ArrayList<>();
        options.add("--gpu-architecture=sm_" + smVersion);
        options.add("--std=c++17");
        for (String d : defines) {
            options.add("-D" + d);
        }
        int[] major = new int[1];
        int[] minor = new int[1];
        nvrtcVersion(major, minor);
        String key = hash(source + "\0" + String.join(" ", options) + "\0nvrtc " + major[0] + "." + minor[0]);
        Path cache = cacheDir().resolve(name.replace('.', '_') + "-sm" + smVersion + "-" + key + ".cubin");
        try {
            if (Files.isRegularFile(cache)) {
                return Files.readAllBytes(cache);
            }
        } catch (IOException ignored) {
            // fall through to a compile
        }
        byte[] cubin = nvrtcCompile(source, name, options);
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = Files.createTempFile(cache.getParent(), "kernel", ".tmp");
            Files.write(tmp, cubin);
            Files.move(tmp, cache, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException ignored) {
            // a read-only home only costs a recompile next time
        }
        return cubin;
    }

    private static byte[] nvrtcCompile(String source, String name, List<String> options) {
        _nvrtcProgram prog = new _nvrtcProgram();
        check(nvrtcCreateProgram(prog, new BytePointer(source), new BytePointer(name), 0, (PointerPointer<?>) null,
                (PointerPointer<?>) null), "nvrtcCreateProgram " + name);
        try {
            PointerPointer<BytePointer> opts = new PointerPointer<>(options.toArray(new String[0]));
            int rc = nvrtcCompileProgram(prog, options.size(), opts);
            if (rc != 0) {
                SizeTPointer size = new SizeTPointer(1);
                nvrtcGetProgramLogSize(prog, size);
                BytePointer log = new BytePointer(size.get());
                nvrtcGetProgramLog(prog, log);
                throw new CudaException("NVRTC could not compile " + name + " (" + String.join(" ", options) + "):\n"
                        + log.getString().replace("\0", "").strip());
            }
            SizeTPointer size = new SizeTPointer(1);
            check(nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize " + name);
            BytePointer cubin = new BytePointer(size.get());
            check(nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN " + name);
            byte[] out = new byte[(int) size.get()];
            cubin.get(out);
            return out;
        } finally {
            nvrtcDestroyProgram(prog);
        }
    }

    private static void check(int rc, String op) {
        if (rc != 0) {
            throw new CudaException(op + " failed: " + nvrtcGetErrorString(rc).getString());
        }
    }

    private static Path cacheDir() {
        String env = System.getenv("LATTICE_KERNEL_CACHE");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "lattice", "kernels");
    }

    private static String hash(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
