package dev.lattice.spark.preprocess;

import org.apache.hadoop.conf.Configuration;

import java.io.IOException;

/** Opens the right reader for a chunk. */
final class RecordReaders {

    private RecordReaders() {
    }

    static RecordReader open(FileChunk chunk, Configuration conf, String[] keys, boolean textPerLine)
            throws IOException {
        return switch (chunk.format()) {
            case JSONL -> new JsonlReader(chunk, conf, keys);
            case TEXT -> new TextReader(chunk, conf, textPerLine);
            case PARQUET -> new ParquetTextReader(chunk, conf, keys);
            case ZIP -> new ZipReader(chunk);
        };
    }
}
