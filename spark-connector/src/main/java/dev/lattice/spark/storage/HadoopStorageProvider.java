package dev.lattice.spark.storage;

import dev.lattice.data.storage.Storage;
import dev.lattice.data.storage.StorageProvider;
import org.apache.hadoop.conf.Configuration;

/** Registers {@link HadoopStorage} for every non-local scheme Hadoop knows (hdfs, s3a, abfs, gs, ...). */
public final class HadoopStorageProvider implements StorageProvider {

    @Override
    public boolean supports(String scheme) {
        return !scheme.equals("file");
    }

    @Override
    public Storage storageFor(String path) {
        return new HadoopStorage(new Configuration());
    }
}
