package dev.lattice.data.storage;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;

/**
 * The few file operations Lattice's outputs need, over local disks and Hadoop filesystems alike. Paths are strings
 * (a local path, {@code file:///…}, {@code hdfs://…}, {@code s3a://…}).
 *
 * <p>Commit protocols built on this never rely on an atomic directory rename (S3 has none): they write under
 * temporary names and make a small marker file visible last.
 */
public interface Storage {

    /** Creates (or, with {@code overwrite}, replaces) a file, creating parent directories. */
    OutputStream create(String path, boolean overwrite) throws IOException;

    InputStream open(String path) throws IOException;

    boolean exists(String path) throws IOException;

    /** Length of a file in bytes. */
    long length(String path) throws IOException;

    /** Renames a file, replacing {@code to} if it exists. */
    void rename(String from, String to) throws IOException;

    /** Deletes a file or (recursively) a directory; no error if it is absent. */
    void delete(String path) throws IOException;

    void mkdirs(String dir) throws IOException;

    /** Full paths of the direct children of {@code dir}, sorted by name; empty if absent. */
    List<String> list(String dir) throws IOException;

    /** {@code parent}/{@code child}, in this storage's path syntax. */
    default String resolve(String parent, String child) {
        return parent.endsWith("/") ? parent + child : parent + "/" + child;
    }
}
