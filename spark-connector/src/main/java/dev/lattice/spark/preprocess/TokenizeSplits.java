package dev.lattice.spark.preprocess;

import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.spark.storage.SerializableConfiguration;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.util.LongAccumulator;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * The map side of preprocessing: reads a partition's {@link InputSplit} record by record and tokenizes lazily, so a
 * task holds one record at a time. A bad record fails the task (naming file and line) unless skipping is on.
 */
final class TokenizeSplits implements FlatMapFunction<Iterator<InputSplit>, TokenizedRecord> {

    private static final long serialVersionUID = 1L;

    private final SerializableConfiguration conf;
    private final String[] keys;
    private final TokenizerSpec tokenizer;
    private final boolean appendEod;
    private final boolean skipBadRecords;
    private final boolean textPerLine;
    private final LongAccumulator tokensRead;
    private final LongAccumulator bytesRead;

    TokenizeSplits(SerializableConfiguration conf, String[] keys, TokenizerSpec tokenizer, boolean appendEod,
                   boolean skipBadRecords, boolean textPerLine, LongAccumulator tokensRead,
                   LongAccumulator bytesRead) {
        this.conf = conf;
        this.keys = keys;
        this.tokenizer = tokenizer;
        this.appendEod = appendEod;
        this.skipBadRecords = skipBadRecords;
        this.textPerLine = textPerLine;
        this.tokensRead = tokensRead;
        this.bytesRead = bytesRead;
    }

    @Override
    public Iterator<TokenizedRecord> call(Iterator<InputSplit> splits) {
        DocumentTokenizer docs = new DocumentTokenizer(tokenizer.tokenizer(), appendEod);
        return new Iterator<>() {
            private InputSplit split = splits.hasNext() ? splits.next() : null;
            private int chunk;
            private RecordReader reader;
            private TokenizedRecord next;

            @Override
            public boolean hasNext() {
                if (next == null) {
                    next = advance();
                }
                return next != null;
            }

            @Override
            public TokenizedRecord next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                TokenizedRecord r = next;
                next = null;
                return r;
            }

            private TokenizedRecord advance() {
                try {
                    while (split != null) {
                        if (reader == null) {
                            if (chunk >= split.chunks().size()) {
                                split = splits.hasNext() ? splits.next() : null;
                                chunk = 0;
                                continue;
                            }
                            reader = RecordReaders.open(split.chunks().get(chunk++), conf.get(), keys, textPerLine);
                        }
                        RawRecord raw = reader.next();
                        if (raw == null) {
                            reader.close();
                            reader = null;
                            continue;
                        }
                        bytesRead.add(raw.bytes());
                        if (raw.isBad()) {
                            if (!skipBadRecords) {
                                throw new BadRecordException(raw.error()
                                        + " (pass --skip-bad-records to skip and count such records)");
                            }
                            return TokenizedRecord.skipped(raw.error(), raw.bytes());
                        }
                        TokenizedRecord t = docs.tokenize(raw);
                        for (int[] ids : t.tokens()) {
                            tokensRead.add(ids.length);
                        }
                        return t;
                    }
                    return null;
                } catch (IOException e) {
                    throw new UncheckedIOException("reading " + describe() + ": " + e.getMessage(), e);
                }
            }

            private String describe() {
                return split == null || chunk == 0 ? "input" : split.chunks().get(chunk - 1).path();
            }
        };
    }
}
