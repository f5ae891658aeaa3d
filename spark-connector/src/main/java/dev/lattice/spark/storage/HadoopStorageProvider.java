package dev.lattice.spark.storage;

import dev.lattice.data.storage.Storage;
import dev.lattice.data.storage.StorageProvider;
import org.apache.hadoop.conf.Configuration;

/**
 * Registers {@link HadoopStorage} for every non-local scheme Hadoop knows (hdfs, s3a, abfs, gs, ...). Spark jobs
 * hand it their session's Hadoop configuration ({@link #use}), so checkpoints and data reach the same s3a/hdfs
 * endpoints and credentials as the job's own reads and writes.
 */
public final class HadoopStorageProvider implements StorageProvider {

    private static volatile Configuration shared;

    /** Makes storage created from now on in this JVM use {@code conf}. */
    public static void use(Configuration conf) {
        shared = conf;
    }

    @Override
    public boolean supports(String scheme) {
        return !scheme.equals("file");
    }

    @Override
    public Storage storageFor(String path) {
        Configuration c = shared;
        return new HadoopStorage(c != null ? c : new Configuration());
    }
}
