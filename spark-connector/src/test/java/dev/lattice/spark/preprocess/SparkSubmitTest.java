package dev.lattice.spark.preprocess;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static dev.lattice.spark.preprocess.PreprocessFixtures.assertDataset;
import static dev.lattice.spark.preprocess.PreprocessFixtures.jsonLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drives the job through {@code org.apache.spark.deploy.SparkSubmit}, the class the spark-submit script runs, in a
 * child JVM (a driver of its own, as spark-submit would start).
 */
class SparkSubmitTest {

    @TempDir
    Path tmp;

    @Test
    void preprocessJobRunsThroughSparkSubmit() throws Exception {
        Path input = tmp.resolve("corpus.jsonl");
        Files.write(input, List.of(jsonLine("text", "Hello world"), jsonLine("text", "submitted by spark-submit")));
        Path appJar = jarOf(Path.of("target/classes"));
        String prefix = tmp.resolve("out/submitted").toString();

        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path")));
        cmd.addAll(javaModuleOptions());
        cmd.addAll(List.of("org.apache.spark.deploy.SparkSubmit",
                "--master", "local[2]",
                "--conf", "spark.ui.enabled=false",
                "--conf", "spark.driver.host=localhost",
                "--conf", "spark.driver.bindAddress=127.0.0.1",
                "--class", PreprocessJob.class.getName(),
                appJar.toString(),
                "--input", input.toString(), "--output-prefix", prefix, "--append-eod"));
        Path log = tmp.resolve("submit.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean finished = p.waitFor(180, TimeUnit.SECONDS);
        if (!finished) {
            p.destroyForcibly();
        }
        String output = Files.readString(log);
        assertTrue(finished, "spark-submit did not finish in 180 s:\n" + output);
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("[preprocess] done"), output);
        assertDataset(Path.of(prefix + "_text_document"), List.of("Hello world", "submitted by spark-submit"), true);
    }

    /** The --add-opens this test JVM was started with (Spark needs them on Java 17). */
    private static List<String> javaModuleOptions() {
        List<String> out = new ArrayList<>();
        for (String arg : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("--add-opens") || arg.startsWith("-XX:+IgnoreUnrecognized")
                    || arg.startsWith("-Dio.netty")) {
                out.add(arg);
            }
        }
        out.add("-Xmx1g");
        out.add("-Dlog4j2.configurationFile=" + Path.of("../conf/log4j2.properties").toAbsolutePath());
        return out;
    }

    /** The application jar spark-submit needs: this module's compiled classes. */
    private Path jarOf(Path classes) throws IOException {
        Path jar = tmp.resolve("lattice-spark-app.jar");
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
