package dev.lattice.spark.preprocess;

import java.io.Serializable;
import java.util.List;

/** The consecutive chunks one task reads, in input order; splits in index order cover the input in order. */
public record InputSplit(int index, List<FileChunk> chunks) implements Serializable {

    public long bytes() {
        return chunks.stream().mapToLong(FileChunk::bytes).sum();
    }
}
