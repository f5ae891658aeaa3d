package dev.lattice.spark.preprocess;

import java.io.Closeable;
import java.io.IOException;

/** Reads the records of one {@link FileChunk}, in file order. */
interface RecordReader extends Closeable {

    /** The next record, or null at the end of the chunk. */
    RawRecord next() throws IOException;
}
