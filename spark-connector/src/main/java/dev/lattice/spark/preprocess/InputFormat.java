package dev.lattice.spark.preprocess;

import java.util.Locale;

/** The kinds of text input the preprocessing job reads. */
public enum InputFormat {
    /** One JSON object per line (Megatron's {@code preprocess_data.py} input); text under {@code --json-keys}. */
    JSONL,
    /** Plain text: a whole file is one document, or each line is one with {@code --text-document line}. */
    TEXT,
    /** Parquet files with string columns named by {@code --json-keys}. */
    PARQUET,
    /** A zip archive (e.g. the JDK's {@code lib/src.zip}): each file entry is one document. */
    ZIP;

    /** The format for a file name, or null when its extension says nothing. */
    public static InputFormat fromFileName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.endsWith(".gz") || n.endsWith(".bz2") || n.endsWith(".zst") || n.endsWith(".deflate")) {
            n = n.substring(0, n.lastIndexOf('.'));
        }
        if (n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".ndjson")) {
            return JSONL;
        }
        if (n.endsWith(".txt") || n.endsWith(".text") || n.endsWith(".md")) {
            return TEXT;
        }
        if (n.endsWith(".parquet")) {
            return PARQUET;
        }
        if (n.endsWith(".zip")) {
            return ZIP;
        }
        return null;
    }

    /** Parses {@code --input-format}; "auto" gives null (decide per file). */
    public static InputFormat parse(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> null;
            case "jsonl", "json" -> JSONL;
            case "text", "txt" -> TEXT;
            case "parquet" -> PARQUET;
            case "zip" -> ZIP;
            default -> throw new IllegalArgumentException("--input-format " + value
                    + ": expected auto, jsonl, text, parquet or zip");
        };
    }
}
