package dev.lattice.spark.preprocess;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;

import java.io.IOException;
import java.io.InputStream;

/** Opens input files through Hadoop, decompressing by extension (.gz, .bz2, ...). */
final class HadoopInput {

    private HadoopInput() {
    }

    /** Whether the file is compressed (then it cannot be split into byte ranges). */
    static boolean isCompressed(String path, Configuration conf) {
        return new CompressionCodecFactory(conf).getCodec(new Path(path)) != null;
    }

    /** The file's bytes from {@code start} (only 0 for compressed files). */
    static InputStream open(String path, long start, Configuration conf) throws IOException {
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf);
        CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(p);
        FSDataInputStream raw = fs.open(p);
        if (codec != null) {
            if (start != 0) {
                raw.close();
                throw new IllegalArgumentException("compressed file " + path + " cannot be read from byte " + start);
            }
            return codec.createInputStream(raw);
        }
        if (start > 0) {
            raw.seek(start);
        }
        return raw;
    }

    /** Number of '\n' bytes before {@code offset}: turns a byte offset into a line number for error messages. */
    static long linesBefore(String path, long offset, Configuration conf) throws IOException {
        long lines = 0;
        try (InputStream in = open(path, 0, conf)) {
            byte[] buf = new byte[1 << 16];
            long remaining = offset;
            while (remaining > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, remaining));
                if (n <= 0) {
                    break;
                }
                for (int i = 0; i < n; i++) {
                    if (buf[i] == '\n') {
                        lines++;
                    }
                }
                remaining -= n;
            }
        }
        return lines;
    }
}
