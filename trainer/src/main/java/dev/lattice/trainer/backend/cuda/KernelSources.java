package dev.lattice.trainer.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The CUDA C sources of the kernels (resources beside this package: one file per family, each naming its CPU
 * reference). {@link #MAIN} are compiled together into one module; attention is compiled per head size.
 */
public final class KernelSources {

    /** The kernel families of the main module, in compile order (after {@code common.cuh}). */
    public static final List<String> MAIN = List.of("elementwise.cu", "embedding.cu", "norms.cu", "activations.cu",
            "rope.cu", "cross_entropy.cu", "adamw.cu");

    public static final String ATTENTION = "attention.cu";

    /** The tensor-core (bf16 mma) flash attention; compiled after {@link #ATTENTION}, for head sizes 16k ≤ 128. */
    public static final String ATTENTION_TC = "attention_tc.cu";

    /** Whether the tensor-core attention serves this head size. */
    public static boolean tensorCoreAttention(int headDim) {
        return headDim % 16 == 0 && headDim <= 128;
    }

    public static final String COMMON = "common.cuh";

    private KernelSources() {
    }

    /** The text of one source file. */
    public static String read(String name) {
        try (InputStream in = KernelSources.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + name + " missing from the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading kernel source " + name, e);
        }
    }

    /** common.cuh followed by the given files: one translation unit. */
    public static String unit(List<String> files) {
        StringBuilder b = new StringBuilder(read(COMMON));
        for (String f : files) {
            b.append("\n// ---- ").append(f).append(" ----\n").append(read(f));
        }
        return b.toString();
    }
}
