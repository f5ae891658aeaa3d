package dev.lattice.spark.preprocess;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** What one partition of tokenized records holds: counted before writing so document ids can be global. */
public record PartitionStats(int partition, long documents, long emptyDocuments, long[] tokens, long skipped,
                      long inputBytes, List<String> firstErrors) implements Serializable {

    static final int MAX_ERRORS_KEPT = 10;

    static PartitionStats of(int partition, Iterator<TokenizedRecord> records, int keys) {
        long docs = 0;
        long empty = 0;
        long skipped = 0;
        long bytes = 0;
        long[] tokens = new long[keys];
        List<String> errors = new ArrayList<>();
        while (records.hasNext()) {
            TokenizedRecord r = records.next();
            bytes += r.bytes();
            if (r.isSkipped()) {
                skipped++;
                if (errors.size() < MAX_ERRORS_KEPT) {
                    errors.add(r.error());
                }
                continue;
            }
            docs++;
            boolean allEmpty = true;
            for (int k = 0; k < keys; k++) {
                tokens[k] += r.tokens()[k].length;
                allEmpty &= r.tokens()[k].length == 0;
            }
            if (allEmpty) {
                empty++;
            }
        }
        return new PartitionStats(partition, docs, empty, tokens, skipped, bytes, errors);
    }
}
