package dev.lattice.spark.storage;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * The Hadoop configuration Lattice writes outputs with: a copy of the session's (its s3a/hdfs settings), except that
 * local files go through the raw local filesystem, since the checksummed one leaves a {@code .crc} beside every file.
 */
public final class OutputConfiguration {

    private OutputConfiguration() {
    }

    public static Configuration from(Configuration sessionConf) {
        Configuration conf = new Configuration(sessionConf);
        conf.set("fs.file.impl", RawLocalFileSystem.class.getName());
        conf.setBoolean("fs.file.impl.disable.cache", true);
        return conf;
    }
}
