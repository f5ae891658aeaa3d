package dev.lattice.spark.preprocess;

import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.io.InputStream;

/**
 * Reads plain text: the whole file as one document, or (line mode) each non-blank line as one document with the
 * same byte-range ownership rule as {@link JsonlReader}.
 */
final class TextReader implements RecordReader {

    private final FileChunk chunk;
    private final Configuration conf;
    private final boolean perLine;
    private final Utf8 utf8 = new Utf8();
    private InputStream in;
    private LineScanner scanner;
    private boolean wholeFileDone;
    private long linesRead;
    private long firstLineStart;

    TextReader(FileChunk chunk, Configuration conf, boolean perLine) throws IOException {
        this.chunk = chunk;
        this.conf = conf;
        this.perLine = perLine;
        if (perLine) {
            in = HadoopInput.open(chunk.path(), Math.max(0, chunk.start() - 1), conf);
            scanner = LineScanner.atFirstOwnedLine(in, chunk.start());
            firstLineStart = scanner.position();
        }
    }

    @Override
    public RawRecord next() throws IOException {
        return perLine ? nextLine() : wholeFile();
    }

    private RawRecord wholeFile() throws IOException {
        if (wholeFileDone) {
            return null;
        }
        wholeFileDone = true;
        byte[] bytes;
        try (InputStream s = HadoopInput.open(chunk.path(), 0, conf)) {
            bytes = s.readAllBytes();
        }
        try {
            return RawRecord.document(new String[] {utf8.decode(bytes, 0, bytes.length)}, chunk.path(), bytes.length);
        } catch (Utf8.InvalidUtf8Exception e) {
            return RawRecord.bad(chunk.path() + ": invalid UTF-8 at byte " + e.offset(), bytes.length);
        }
    }

    private RawRecord nextLine() throws IOException {
        while (true) {
            if (scanner.position() >= chunk.end() || !scanner.next()) {
                return null;
            }
            linesRead++;
            int len = scanner.lineLength();
            byte[] b = scanner.lineBytes();
            if (len > 0 && b[len - 1] == '\r') {
                len--;
            }
            if (len == 0) {
                continue;
            }
            try {
                return RawRecord.document(new String[] {utf8.decode(b, 0, len)},
                        chunk.path() + ":" + scanner.lineStart(), len + 1L);
            } catch (Utf8.InvalidUtf8Exception e) {
                long before = firstLineStart == 0 ? 0 : HadoopInput.linesBefore(chunk.path(), firstLineStart, conf);
                return RawRecord.bad(chunk.path() + " line " + (before + linesRead) + ": invalid UTF-8 at byte "
                        + e.offset() + " of the line", len + 1L);
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (in != null) {
            in.close();
        }
    }
}
