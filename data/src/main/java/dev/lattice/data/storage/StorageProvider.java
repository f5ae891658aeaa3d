package dev.lattice.data.storage;

/**
 * Supplies a {@link Storage} for URI schemes other than local files. Found through {@link java.util.ServiceLoader},
 * so Hadoop-backed storage is used when (and only when) its module is on the classpath.
 */
public interface StorageProvider {

    /** Whether this provider handles {@code scheme} (e.g. "hdfs", "s3a"). */
    boolean supports(String scheme);

    Storage storageFor(String path);
}
