package dev.lattice.spark.preprocess;

import java.io.Serializable;

/** The files one task attempt wrote for its partition, per key, returned to the driver for the commit. */
record WrittenPartition(int partition, String[] binFiles, String[] idxFiles, String[] shardFiles, long documents)
        implements Serializable {
}
