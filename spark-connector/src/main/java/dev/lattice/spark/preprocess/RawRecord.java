package dev.lattice.spark.preprocess;

/**
 * One input record before tokenization: the text of each key, where it came from, and its size; or a bad record
 * with the reason (file, line and what was wrong).
 */
record RawRecord(String[] texts, String source, long bytes, String error) {

    static RawRecord document(String[] texts, String source, long bytes) {
        return new RawRecord(texts, source, bytes, null);
    }

    static RawRecord bad(String error, long bytes) {
        return new RawRecord(null, null, bytes, error);
    }

    boolean isBad() {
        return error != null;
    }
}
