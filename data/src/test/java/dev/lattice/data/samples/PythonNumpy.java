package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Runs small numpy snippets for cross-checks; tests using it are skipped when python3 with numpy is absent. */
final class PythonNumpy {

    private static Boolean available;

    private PythonNumpy() {
    }

    static synchronized void assumeAvailable() {
        if (available == null) {
            try {
                available = run("import numpy").exitCode == 0;
            } catch (IOException | InterruptedException e) {
                available = false;
            }
        }
        Assumptions.assumeTrue(available, "python3 with numpy is not installed");
    }

    record Result(int exitCode, String output) {
    }

    /** Runs {@code python3 -c script args...} and returns its exit code and combined output. */
    static Result run(String script, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("python3", "-c", script));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("python3 timed out");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8).strip());
    }

    /** Runs a script that must succeed and returns its output. */
    static String check(String script, String... args) throws IOException, InterruptedException {
        Result r = run(script, args);
        assertEquals(0, r.exitCode(), r.output());
        return r.output();
    }
}
