package dev.lattice.spark.preprocess;

import java.io.Serializable;

/**
 * A tokenized document (token ids per key, where it came from, input bytes) or a skipped bad record.
 *
 * @param tokens one id array per {@code --json-keys} key; null for a bad record
 * @param error why the record was skipped; null for a document
 */
public record TokenizedRecord(int[][] tokens, String source, long bytes, String error) implements Serializable {

    public static TokenizedRecord document(int[][] tokens, String source, long bytes) {
        return new TokenizedRecord(tokens, source, bytes, null);
    }

    public static TokenizedRecord skipped(String error, long bytes) {
        return new TokenizedRecord(null, null, bytes, error);
    }

    public boolean isSkipped() {
        return error != null;
    }
}
