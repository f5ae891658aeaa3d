package dev.lattice.spark.preprocess;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The corpus used when {@code --input} is not given: the Java sources in a JDK's {@code lib/src.zip} (real text
 * nobody here wrote, present on machines with a full JDK, no download). Looks in the running JDK, then
 * {@code $JAVA_HOME}, then every JDK under {@code /usr/lib/jvm}.
 */
public final class DefaultCorpus {

    /** The part of src.zip used by default: the java.base module's {@code java.*} packages. */
    public static final String DEFAULT_PREFIX = "java.base/java/";

    private DefaultCorpus() {
    }

    /** {@code <src.zip>!java.base/java/}, or an error that says where it looked. */
    public static String locate() {
        List<Path> candidates = new ArrayList<>();
        candidates.add(Path.of(System.getProperty("java.home"), "lib", "src.zip"));
        String javaHome = System.getenv("JAVA_HOME");
        if (javaHome != null) {
            candidates.add(Path.of(javaHome, "lib", "src.zip"));
        }
        Path jvms = Path.of("/usr/lib/jvm");
        if (Files.isDirectory(jvms)) {
            try (DirectoryStream<Path> dirs = Files.newDirectoryStream(jvms)) {
                List<Path> sorted = new ArrayList<>();
                dirs.forEach(sorted::add);
                sorted.sort(null);
                for (Path d : sorted) {
                    candidates.add(d.resolve("lib").resolve("src.zip"));
                }
            } catch (IOException e) {
                // fall through: the error below lists what was tried
            }
        }
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) { // follows links; a dangling src.zip link (no JDK sources package) fails
                return p.toAbsolutePath() + "!" + DEFAULT_PREFIX;
            }
        }
        throw new IllegalStateException("no --input given and no default corpus found: looked for a JDK's"
                + " lib/src.zip at " + candidates + " (install a full JDK, e.g. Debian's openjdk-17-source, or pass"
                + " --input)");
    }
}
