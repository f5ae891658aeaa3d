package dev.lattice.spark.testing;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

/**
 * Runs {@code org.apache.spark.deploy.SparkSubmit} — what the spark-submit script runs — in a child JVM with this
 * module's classes packed as the application jar.
 */
public final class SparkSubmitRunner {

    /** Exit code and everything the child printed. */
    public record Result(boolean finished, int exitCode, String output) {
    }

    private SparkSubmitRunner() {
    }

    public static Result submit(Path workDir, String mainClass, List<String> appArgs, int timeoutSeconds)
            throws IOException, InterruptedException {
        return submit(workDir, "local[2]", mainClass, appArgs, timeoutSeconds);
    }

    public static Result submit(Path workDir, String master, String mainClass, List<String> appArgs,
                                int timeoutSeconds) throws IOException, InterruptedException {
        Path appJar = jarOf(Path.of("target/classes"), workDir.resolve("lattice-spark-app.jar"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path")));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("--add-opens") || arg.startsWith("-XX:+IgnoreUnrecognized")
                    || arg.startsWith("-Dio.netty")) {
                cmd.add(arg);
            }
        }
        cmd.add("-Xmx2g");
        cmd.add("-Dlog4j2.configurationFile=" + Path.of("../conf/log4j2.properties").toAbsolutePath());
        cmd.addAll(List.of("org.apache.spark.deploy.SparkSubmit", "--master", master,
                "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=localhost",
                "--conf", "spark.driver.bindAddress=127.0.0.1", "--class", mainClass, appJar.toString()));
        cmd.addAll(appArgs);
        Path log = workDir.resolve("submit-" + System.nanoTime() + ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean finished = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        if (!finished) {
            p.destroyForcibly();
        }
        return new Result(finished, finished ? p.exitValue() : -1, Files.readString(log));
    }

    private static Path jarOf(Path classes, Path jar) throws IOException {
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
             Stream<Path> files = Files.walk(classes)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
        return jar;
    }
}
