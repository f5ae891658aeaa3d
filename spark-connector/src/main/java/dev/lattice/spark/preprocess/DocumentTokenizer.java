package dev.lattice.spark.preprocess;

import dev.lattice.data.tokenizer.TextTokenizer;

/**
 * Tokenizes each key's text of a record as Megatron's {@code preprocess_data.py} does at document level: with
 * {@code --append-eod}, the end-of-document id is appended only to documents that have at least one token.
 */
final class DocumentTokenizer {

    private final TextTokenizer tokenizer;
    private final boolean appendEod;

    DocumentTokenizer(TextTokenizer tokenizer, boolean appendEod) {
        if (appendEod && tokenizer.eodId() < 0) {
            throw new IllegalArgumentException("--append-eod: tokenizer " + tokenizer.identifier()
                    + " has no end-of-document token (pass --eod-token)");
        }
        this.tokenizer = tokenizer;
        this.appendEod = appendEod;
    }

    TokenizedRecord tokenize(RawRecord record) {
        String[] texts = record.texts();
        int[][] ids = new int[texts.length][];
        for (int k = 0; k < texts.length; k++) {
            ids[k] = tokenizer.encodeDocument(texts[k], appendEod);
        }
        return TokenizedRecord.document(ids, record.source(), record.bytes());
    }
}
