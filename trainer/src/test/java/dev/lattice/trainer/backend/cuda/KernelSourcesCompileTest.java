package dev.lattice.trainer.backend.cuda;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every kernel source compiles for Ampere and Hopper with {@code nvcc} where it is installed (CI has no GPU; this is
 * what it can check): the main module as the backend assembles it, and attention for each head size the presets use.
 * NVRTC compiles the same text at run time (without host headers, so the sources include none).
 */
class KernelSourcesCompileTest {

    @TempDir
    Path tmp;

    private static Path nvcc() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, "nvcc");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        Path usual = Path.of("/usr/local/cuda/bin/nvcc");
        return Files.isExecutable(usual) ? usual : null;
    }

    private void compile(String source, String name, int sm, String... defines) throws IOException,
            InterruptedException {
        Path nvcc = nvcc();
        assumeTrue(nvcc != null, "nvcc not installed");
        Path cu = tmp.resolve(name + ".cu");
        Files.writeString(cu, source, StandardCharsets.UTF_8);
        List<String> cmd = new ArrayList<>(List.of(nvcc.toString(), "-arch=sm_" + sm, "--cubin", "-std=c++17",
                "-o", tmp.resolve(name + "-" + sm + ".cubin").toString()));
        for (String d : defines) {
            cmd.add("-D" + d);
        }
        cmd.add(cu.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "nvcc timed out");
        assertEquals(0, p.exitValue(), name + " for sm_" + sm + ":\n" + log);
    }

    @ParameterizedTest
    @ValueSource(ints = {80, 90})
    void mainModuleCompiles(int sm) throws Exception {
        compile(KernelSources.unit(KernelSources.MAIN), "lattice_kernels", sm);
    }

    @ParameterizedTest
    @ValueSource(ints = {80, 90})
    void attentionCompilesForCommonHeadSizes(int sm) throws Exception {
        for (int d : new int[] {64, 128}) {
            compile(KernelSources.unit(List.of(KernelSources.ATTENTION, KernelSources.ATTENTION_TC)),
                    "attention_d" + d, sm, "HD=" + d);
        }
    }
}
