package dev.lattice.spark.preprocess;

import com.google.gson.GsonBuilder;

import java.util.List;
import java.util.Locale;

/**
 * What a preprocessing run did: counts, sizes, time and rates; printed at the end and written as JSON beside the
 * outputs.
 */
public record PreprocessSummary(long documents, long emptyDocuments, long tokens, long inputBytes, long outputBytes,
                                long skippedRecords, double elapsedSeconds, int partitions,
                                List<String> outputs, List<String> firstErrors) {

    public double tokensPerSecond() {
        return tokens / Math.max(1e-9, elapsedSeconds);
    }

    public double megabytesPerSecond() {
        return inputBytes / 1e6 / Math.max(1e-9, elapsedSeconds);
    }

    public String toJson() {
        return new GsonBuilder().setPrettyPrinting().create().toJson(new Json(documents, emptyDocuments, tokens,
                inputBytes, outputBytes, skippedRecords, elapsedSeconds, tokensPerSecond(), megabytesPerSecond(),
                partitions, outputs, firstErrors));
    }

    private record Json(long documents, long empty_documents, long tokens, long input_bytes, long output_bytes,
                        long skipped_records, double elapsed_seconds, double tokens_per_second,
                        double input_mb_per_second, int partitions, List<String> outputs,
                        List<String> first_errors) {
    }

    /** The human-readable block printed at the end of the job. */
    public String render() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%n[preprocess] done in %.1f s%n", elapsedSeconds));
        b.append(String.format(Locale.ROOT, "  documents        %,d (%,d empty)%n", documents, emptyDocuments));
        b.append(String.format(Locale.ROOT, "  tokens           %,d%n", tokens));
        b.append(String.format(Locale.ROOT, "  input            %,.1f MB of text%n", inputBytes / 1e6));
        b.append(String.format(Locale.ROOT, "  output           %,.1f MB%n", outputBytes / 1e6));
        b.append(String.format(Locale.ROOT, "  throughput       %,.0f tokens/s, %.1f MB/s of text%n",
                tokensPerSecond(), megabytesPerSecond()));
        b.append(String.format(Locale.ROOT, "  skipped records  %,d%n", skippedRecords));
        for (String e : firstErrors) {
            b.append("    skipped: ").append(e).append('\n');
        }
        for (String o : outputs) {
            b.append("  wrote            ").append(o).append('\n');
        }
        return b.toString();
    }
}
