package dev.lattice.data.storage;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** {@link Storage} over the local filesystem with plain Java I/O; renames are atomic moves. */
public final class LocalStorage implements Storage {

    public static final LocalStorage INSTANCE = new LocalStorage();

    private LocalStorage() {
    }

    /** The local path for a plain path or a {@code file:} URI. */
    public static Path toPath(String path) {
        return path.startsWith("file:") ? Path.of(URI.create(path)) : Path.of(path);
    }

    @Override
    public OutputStream create(String path, boolean overwrite) throws IOException {
        Path p = toPath(path);
        if (p.getParent() != null) {
            Files.createDirectories(p.getParent());
        }
        if (!overwrite && Files.exists(p)) {
            throw new FileAlreadyExistsException(p.toString());
        }
        return new BufferedOutputStream(Files.newOutputStream(p, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), 1 << 16);
    }

    @Override
    public InputStream open(String path) throws IOException {
        return Files.newInputStream(toPath(path));
    }

    @Override
    public boolean exists(String path) {
        return Files.exists(toPath(path));
    }

    @Override
    public long length(String path) throws IOException {
        return Files.size(toPath(path));
    }

    @Override
    public void rename(String from, String to) throws IOException {
        Path target = toPath(to);
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        Files.move(toPath(from), target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    @Override
    public void delete(String path) throws IOException {
        Path p = toPath(path);
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            List<Path> all = walk.sorted(Comparator.reverseOrder()).toList();
            for (Path q : all) {
                Files.deleteIfExists(q);
            }
        }
    }

    @Override
    public void mkdirs(String dir) throws IOException {
        Files.createDirectories(toPath(dir));
    }

    @Override
    public List<String> list(String dir) throws IOException {
        Path p = toPath(dir);
        if (!Files.isDirectory(p)) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        try (Stream<Path> children = Files.list(p)) {
            children.sorted().forEach(c -> out.add(c.toString()));
        }
        return out;
    }
}
