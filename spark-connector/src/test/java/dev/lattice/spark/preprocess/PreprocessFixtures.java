package dev.lattice.spark.preprocess;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.data.parquet.TokenRow;
import dev.lattice.data.parquet.TokenShardReader;
import dev.lattice.data.tokenizer.Gpt2BpeTokenizer;
import org.apache.hadoop.conf.Configuration;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Helpers shared by the preprocessing tests: options, expected ids, reading outputs back. */
final class PreprocessFixtures {

    static final Gpt2BpeTokenizer GPT2 = new Gpt2BpeTokenizer();

    private PreprocessFixtures() {
    }

    static PreprocessOptions options(String output, String... inputs) {
        PreprocessOptions o = new PreprocessOptions();
        o.input = new ArrayList<>(List.of(inputs));
        o.outputPrefix = output;
        o.workers = 2;
        return o;
    }

    /** The ids the job must produce for {@code text}: GPT-2 ids, plus EOD for a non-empty text if asked. */
    static int[] expectedIds(String text, boolean appendEod) {
        int[] ids = GPT2.encode(text);
        if (appendEod && ids.length > 0) { // spelled out here: the test must not trust encodeDocument
            int[] withEod = Arrays.copyOf(ids, ids.length + 1);
            withEod[ids.length] = Gpt2BpeTokenizer.EOD_ID;
            return withEod;
        }
        return ids;
    }

    static String jsonLine(String key, String text) {
        return new com.google.gson.Gson().toJson(java.util.Map.of(key, text));
    }

    /** Asserts the indexed dataset at {@code prefix} holds exactly {@code texts} in order. */
    static void assertDataset(Path prefix, List<String> texts, boolean appendEod) throws IOException {
        try (IndexedDataset ds = IndexedDataset.open(prefix)) {
            assertEquals(texts.size(), ds.documentCount(), "documents in " + prefix);
            for (int d = 0; d < texts.size(); d++) {
                assertArrayEquals(expectedIds(texts.get(d), appendEod), ds.document(d), "document " + d);
            }
        }
    }

    /** All shard rows of a shards directory, in file order. */
    static List<TokenRow> readShards(Path dir) throws IOException {
        List<TokenRow> rows = new ArrayList<>();
        List<Path> parts;
        try (Stream<Path> s = Files.list(dir)) {
            parts = s.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
        }
        for (Path p : parts) {
            try (TokenShardReader r = TokenShardReader.open(new org.apache.hadoop.fs.Path(p.toUri()),
                    new Configuration())) {
                for (TokenRow row = r.next(); row != null; row = r.next()) {
                    rows.add(row);
                }
            }
        }
        return rows;
    }

    /** Runs {@link PreprocessJob#execute} and returns exit code and what it printed. */
    static Run execute(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = PreprocessJob.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    record Run(int code, String out, String err) {
    }

    static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    }
}
