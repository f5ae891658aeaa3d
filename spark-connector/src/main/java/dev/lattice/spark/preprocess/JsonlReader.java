package dev.lattice.spark.preprocess;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.io.InputStream;

/**
 * Reads JSON Lines, one document per line, taking the string under each of {@code --json-keys}. A chunk owns the
 * lines that start inside its byte range, so splitting a large file never loses or repeats a line. Blank lines are
 * skipped. Errors name the file and the 1-based line number.
 */
final class JsonlReader implements RecordReader {

    private final FileChunk chunk;
    private final Configuration conf;
    private final String[] keys;
    private final InputStream in;
    private final LineScanner scanner;
    private final Utf8 utf8 = new Utf8();
    private final long firstLineStart;
    private long linesRead;
    private long linesBeforeChunk = -1;

    JsonlReader(FileChunk chunk, Configuration conf, String[] keys) throws IOException {
        this.chunk = chunk;
        this.conf = conf;
        this.keys = keys;
        this.in = HadoopInput.open(chunk.path(), Math.max(0, chunk.start() - 1), conf);
        this.scanner = LineScanner.atFirstOwnedLine(in, chunk.start());
        this.firstLineStart = scanner.position();
    }

    @Override
    public RawRecord next() throws IOException {
        while (true) {
            if (scanner.position() >= chunk.end() || !scanner.next()) {
                return null;
            }
            linesRead++;
            byte[] bytes = scanner.lineBytes();
            int len = scanner.lineLength();
            long size = len + 1L;
            if (isBlank(bytes, len)) {
                continue;
            }
            String line;
            try {
                line = utf8.decode(bytes, 0, len);
            } catch (Utf8.InvalidUtf8Exception e) {
                return RawRecord.bad(where() + ": invalid UTF-8 at byte " + e.offset() + " of the line", size);
            }
            JsonObject obj;
            try {
                JsonElement parsed = JsonParser.parseString(line);
                if (!parsed.isJsonObject()) {
                    return RawRecord.bad(where() + ": expected a JSON object, got " + kind(parsed), size);
                }
                obj = parsed.getAsJsonObject();
            } catch (JsonParseException e) {
                return RawRecord.bad(where() + ": malformed JSON (" + rootMessage(e) + ")", size);
            }
            String[] texts = new String[keys.length];
            for (int k = 0; k < keys.length; k++) {
                JsonElement v = obj.get(keys[k]);
                if (v == null || v.isJsonNull()) {
                    return RawRecord.bad(where() + ": missing key '" + keys[k] + "' (keys present: "
                            + obj.keySet() + ")", size);
                }
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                    return RawRecord.bad(where() + ": key '" + keys[k] + "' is " + kind(v)
                            + ", expected a string", size);
                }
                texts[k] = v.getAsString();
            }
            return RawRecord.document(texts, chunk.path() + ":" + scanner.lineStart(), size);
        }
    }

    private static boolean isBlank(byte[] b, int len) {
        for (int i = 0; i < len; i++) {
            if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r') {
                return false;
            }
        }
        return true;
    }

    private static String kind(JsonElement e) {
        if (e.isJsonArray()) {
            return "an array";
        }
        if (e.isJsonObject()) {
            return "an object";
        }
        if (e.isJsonNull()) {
            return "null";
        }
        return e.getAsJsonPrimitive().isNumber() ? "a number" : e.getAsJsonPrimitive().isBoolean() ? "a boolean"
                : "a string";
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    /** "path line N" for the current line; the line count before this chunk is computed only when needed. */
    private String where() throws IOException {
        if (linesBeforeChunk < 0) {
            linesBeforeChunk = firstLineStart == 0 ? 0 : HadoopInput.linesBefore(chunk.path(), firstLineStart, conf);
        }
        return chunk.path() + " line " + (linesBeforeChunk + linesRead);
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
