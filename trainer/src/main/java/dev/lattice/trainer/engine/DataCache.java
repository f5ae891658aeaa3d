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
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;

/**
 * Indexed datasets on {@code hdfs://} or {@code s3a://} are read through a local copy: the trainer memory-maps the
 * {@code .bin}/{@code .idx}, which needs a local file. Each JVM copies a dataset once (checked by file sizes), into
 * {@code java.io.tmpdir/lattice-data/<hash of the path>/}; the rank reads it there, never through the driver.
 *
 * <p>A data path that names tokenized Parquet shards (a {@code .parquet} file, or a directory of them as
 * {@code lattice preprocess} writes) is converted once per JVM into a local indexed dataset — documents in shard-name
 * order, then row order — so sampling is the same as for the indexed dataset preprocessing wrote beside it.
 */
public final class DataCache {

    private DataCache() {
    }

    /**
     * The local prefix to open for {@code prefix}: itself when it is a local indexed dataset, else a cached copy, or
     * for Parquet token shards a converted indexed dataset whose ids must be below {@code vocabSize}.
     */
    public static synchronized String localize(String prefix, int vocabSize) throws IOException {
        List<String> shards = parquetShards(prefix);
        if (!shards.isEmpty()) {
            return ParquetShardCache.convert(prefix, shards, vocabSize,
                    Path.of(System.getProperty("java.io.tmpdir"), "lattice-data", hash(prefix)));
        }
        Path inPlace = localPath(prefix);
        if (inPlace != null) {
            return inPlace.toString();
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

    /** The local file {@code path} names (a plain path or a {@code file:} URI), or null for another file system. */
    static Path localPath(String path) {
        String scheme = Storages.schemeOf(path);
        if (scheme == null) {
            return Path.of(path);
        }
        return scheme.equals("file") ? Path.of(java.net.URI.create(path)) : null;
    }

    /** The Parquet shards {@code prefix} names, in name order; empty when it names an indexed dataset. */
    static List<String> parquetShards(String prefix) throws IOException {
        Storage storage = Storages.forPath(prefix);
        if (prefix.endsWith(".parquet")) {
            return List.of(prefix);
        }
        if (storage.exists(prefix + ".bin") || !storage.exists(prefix)) {
            return List.of();
        }
        List<String> shards = new ArrayList<>();
        for (String child : storage.list(prefix)) {
            String name = child.substring(child.lastIndexOf('/') + 1);
            if (name.endsWith(".parquet")) {
                shards.add(storage.resolve(prefix, name));
            }
        }
        if (shards.isEmpty()) {
            throw new IOException(prefix + ": neither an indexed dataset (" + prefix + ".bin/.idx) nor a directory"
                    + " of tokenized Parquet shards (*.parquet)");
        }
        Collections.sort(shards);
        return shards;
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
