package dev.lattice.spark.preprocess;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Splits a byte stream into lines ending in '\n' and tracks the file offset of each line's first byte. Works on
 * bytes so that invalid UTF-8 is detected per line, with an exact position, rather than silently replaced.
 */
final class LineScanner {

    private final InputStream in;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int limit;
    private long bufStart;
    private byte[] line = new byte[1 << 12];
    private int lineLength;
    private long lineStart;

    /** @param offset the file offset of the stream's first byte */
    LineScanner(InputStream in, long offset) {
        this.in = in;
        this.bufStart = offset;
    }

    /**
     * A scanner at the first line a byte-range chunk owns: the line starting at {@code start} if one does, else the
     * one after. It starts reading one byte early: a '\n' there means a line begins exactly at {@code start}.
     * Chunks owning the lines that start in [start, end) cover a file exactly once.
     */
    static LineScanner atFirstOwnedLine(java.io.InputStream in, long start) throws IOException {
        LineScanner scanner = new LineScanner(in, Math.max(0, start - 1));
        if (start > 0) {
            int b = scanner.read();
            if (b != '\n' && b != -1) {
                scanner.skipLine();
            }
        }
        return scanner;
    }

    /** File offset of the next byte to be read. */
    long position() {
        return bufStart + pos;
    }

    /** Reads the next line (without its '\n'); false at end of input. */
    boolean next() throws IOException {
        lineStart = position();
        lineLength = 0;
        boolean any = false;
        while (true) {
            if (pos == limit && !fill()) {
                return any;
            }
            any = true;
            int i = pos;
            while (i < limit && buf[i] != '\n') {
                i++;
            }
            append(buf, pos, i - pos);
            if (i < limit) {
                pos = i + 1;
                return true;
            }
            pos = limit;
        }
    }

    /** Skips to just after the next '\n'; false if the input ended first. */
    boolean skipLine() throws IOException {
        while (true) {
            if (pos == limit && !fill()) {
                return false;
            }
            while (pos < limit) {
                if (buf[pos++] == '\n') {
                    return true;
                }
            }
        }
    }

    /** Reads one byte, or -1 at the end. */
    int read() throws IOException {
        if (pos == limit && !fill()) {
            return -1;
        }
        return buf[pos++] & 0xff;
    }

    private boolean fill() throws IOException {
        bufStart += limit;
        pos = 0;
        limit = 0;
        int n = in.read(buf);
        if (n <= 0) {
            return false;
        }
        limit = n;
        return true;
    }

    private void append(byte[] src, int from, int len) {
        if (lineLength + len > line.length) {
            line = Arrays.copyOf(line, Math.max(line.length * 2, lineLength + len));
        }
        System.arraycopy(src, from, line, lineLength, len);
        lineLength += len;
    }

    byte[] lineBytes() {
        return line;
    }

    int lineLength() {
        return lineLength;
    }

    long lineStart() {
        return lineStart;
    }
}
