package dev.lattice.spark.preprocess;

import java.io.Serializable;

/**
 * A piece of one input file that one task reads: a byte range of a line-oriented file, a whole file, or a range of
 * entries of a zip archive.
 *
 * @param path Hadoop path of the file
 * @param start first byte (line-oriented files; 0 otherwise)
 * @param end byte after the range; lines that start in [start, end) belong to this chunk
 * @param firstEntry first zip entry (zip only)
 * @param endEntry entry after the range (zip only)
 * @param entryPrefix only zip entries whose names start with this are read (zip only; "" for all)
 * @param bytes the (uncompressed, where known) bytes this chunk covers, for balancing and progress
 */
public record FileChunk(String path, InputFormat format, long start, long end, int firstEntry, int endEntry,
                        String entryPrefix, long bytes) implements Serializable {

    static FileChunk whole(String path, InputFormat format, long length) {
        return new FileChunk(path, format, 0, length, 0, 0, "", length);
    }

    static FileChunk range(String path, InputFormat format, long start, long end) {
        return new FileChunk(path, format, start, end, 0, 0, "", end - start);
    }

    static FileChunk entries(String path, int first, int end, String prefix, long bytes) {
        return new FileChunk(path, InputFormat.ZIP, 0, 0, first, end, prefix, bytes);
    }
}
