package dev.lattice.spark.preprocess;

import dev.lattice.data.indexed.IndexedDatasetOutput;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Where preprocessing writes, following Megatron's naming: per key, the indexed dataset
 * {@code <prefix>_<key>_document.bin/.idx} and the Parquet shards in {@code <prefix>_<key>_document_shards/}
 * (committed by a {@code _SUCCESS} file written last); plus {@code <prefix>_preprocess_summary.json}.
 */
public record OutputLayout(String prefix, String[] keys) implements Serializable {

    public static final String SUCCESS = "_SUCCESS";

    public String datasetPrefix(String key) {
        return prefix + "_" + key + "_document";
    }

    public String shardsDir(String key) {
        return datasetPrefix(key) + "_shards";
    }

    public String summaryFile() {
        return prefix + "_preprocess_summary.json";
    }

    /** Every path this job would create, for the does-it-exist check. */
    public List<String> finalPaths(boolean withShards) {
        List<String> out = new ArrayList<>();
        for (String key : keys) {
            out.add(IndexedDatasetOutput.binPath(datasetPrefix(key)));
            out.add(IndexedDatasetOutput.idxPath(datasetPrefix(key)));
            if (withShards) {
                out.add(shardsDir(key));
            }
        }
        out.add(summaryFile());
        return out;
    }
}
