package dev.lattice.trainer.engine;

import dev.lattice.data.storage.Storage;
import dev.lattice.data.storage.Storages;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Indexed datasets on {@code hdfs://} or {@code s3a://} are read through a local copy: the trainer memory-maps the
 * {@code .bin}/{@code .idx}, which needs a local file. Each JVM copies a dataset once (checked by file sizes), into
 * {@code java.io.tmpdir/lattice-data/<hash of the path>/}; the rank reads it there, never through the driver.
 */
public final class DataCache {

    private DataCache() {
    }

    /** The local prefix to open for {@code prefix}: itself when it is local, else a cached copy. */
    public static synchronized String localize(String prefix) throws IOException {
        String scheme = Storages.schemeOf(prefix);
        if (scheme == null || scheme.equals("file")) {
            return prefix.startsWith("file:") ? Path.of(java.net.URI.create(prefix)).toString() : prefix;
        }
        Storage storage = Storages.forPath(prefix);
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "lattice-data", hash(prefix));
        Files.createDirectories(dir);
        String name = prefix.substring(prefix.lastIndexOf('/') + 1);
        for (String ext : new String[] {".bin", ".idx"}) {
            String remote = prefix + ext;
            if (!storage.exists(remote)) {
                throw new IOException(remote + ": not found (--data-path names an indexed dataset prefix)");
            }
            Path local = dir.resolve(name + ext);
            long size = storage.length(remote);
            if (Files.exists(local) && Files.size(local) == size) {
                continue;
            }
            Path tmp = dir.resolve(name + ext + ".part");
            try (InputStream in = storage.open(remote)) {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            Files.move(tmp, local, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        return dir.resolve(name).toString();
    }

    private static String hash(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(s.getBytes(StandardCharsets.UTF_8))).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
