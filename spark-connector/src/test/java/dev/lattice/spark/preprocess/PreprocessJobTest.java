package dev.lattice.spark.preprocess;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.data.parquet.TokenRow;
import dev.lattice.spark.testing.SparkTestSession;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static dev.lattice.spark.preprocess.PreprocessFixtures.assertDataset;
import static dev.lattice.spark.preprocess.PreprocessFixtures.expectedIds;
import static dev.lattice.spark.preprocess.PreprocessFixtures.jsonLine;
import static dev.lattice.spark.preprocess.PreprocessFixtures.options;
import static dev.lattice.spark.preprocess.PreprocessFixtures.quiet;
import static dev.lattice.spark.preprocess.PreprocessFixtures.readShards;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreprocessJobTest {

    static SparkSession spark;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    @Test
    void jsonlBecomesIndexedDatasetAndShardsInInputOrder() throws IOException {
        List<String> texts = List.of("Hello world", "", "The quick brown fox jumps over the lazy dog.",
                "naïve café — 東京 🚀", "line one\nline two\n");
        Path in = tmp.resolve("in");
        Files.createDirectories(in);
        Files.write(in.resolve("a.jsonl"), List.of(jsonLine("text", texts.get(0)), jsonLine("text", texts.get(1)),
                "   ", jsonLine("text", texts.get(2))));
        Files.write(in.resolve("b.jsonl"), List.of(jsonLine("text", texts.get(3)), jsonLine("text", texts.get(4))));
        Files.writeString(in.resolve("_SUCCESS"), ""); // hidden files are not input
        PreprocessOptions o = options(tmp.resolve("out/corpus").toString(), in.toString());
        o.appendEod = true;

        PreprocessSummary s = PreprocessJob.run(spark, o, quiet());

        assertDataset(tmp.resolve("out/corpus_text_document"), texts, true);
        assertEquals(5, s.documents());
        assertEquals(1, s.emptyDocuments());
        long tokens = texts.stream().mapToLong(t -> expectedIds(t, true).length).sum();
        assertEquals(tokens, s.tokens());
        assertEquals(0, s.skippedRecords());

        List<TokenRow> rows = readShards(tmp.resolve("out/corpus_text_document_shards"));
        assertEquals(texts.size(), rows.size());
        for (int i = 0; i < rows.size(); i++) {
            assertEquals(i, rows.get(i).documentId(), "document ids are positions in the .idx");
            assertArrayEquals(expectedIds(texts.get(i), true), rows.get(i).tokens());
        }
        assertTrue(rows.get(3).source().endsWith("b.jsonl:0"), rows.get(3).source());
        assertTrue(Files.exists(tmp.resolve("out/corpus_text_document_shards/_SUCCESS")));
        assertTrue(Files.readString(tmp.resolve("out/corpus_preprocess_summary.json")).contains("\"documents\": 5"));
        assertNoLeftovers(tmp.resolve("out"));
    }

    @Test
    void largeFileSplitIntoByteRangesKeepsEveryLineOnce() throws IOException {
        // ~3 MB, so with 2 workers the planner cuts the file into several byte ranges (min 1 MiB each).
        Random rnd = new Random(1);
        List<String> texts = new ArrayList<>();
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 3_200_000) {
            String t = "doc " + texts.size() + " " + "word ".repeat(rnd.nextInt(400));
            texts.add(t);
            sb.append(jsonLine("text", t)).append('\n');
        }
        Path file = tmp.resolve("big.jsonl");
        Files.writeString(file, sb);
        InputPlanner planner = new InputPlanner(new org.apache.hadoop.conf.Configuration(), null, false);
        assertTrue(planner.plan(List.of(file.toString()), 2).size() >= 3, "the file is split");

        PreprocessSummary s = PreprocessJob.run(spark, options(tmp.resolve("big").toString(), file.toString()),
                quiet());

        assertEquals(texts.size(), s.documents());
        assertDataset(tmp.resolve("big_text_document"), texts, false);
    }

    @Test
    void multipleKeysGiveOneDatasetEach() throws IOException {
        Path file = tmp.resolve("qa.jsonl");
        Files.write(file, List.of("{\"question\": \"Why?\", \"answer\": \"Because.\"}",
                "{\"question\": \"Who?\", \"answer\": \"Me.\", \"extra\": 1}"));
        Files.write(tmp.resolve("other.jsonl"), List.of("{\"question\": \"not matched by the glob\", \"answer\": \"-\"}"));
        PreprocessOptions o = options(tmp.resolve("qa").toString(), tmp.resolve("q*.jsonl").toString());
        o.jsonKeys = List.of("question", "answer");
        PreprocessJob.run(spark, o, quiet());
        assertDataset(tmp.resolve("qa_question_document"), List.of("Why?", "Who?"), false);
        assertDataset(tmp.resolve("qa_answer_document"), List.of("Because.", "Me."), false);
    }

    @Test
    void plainTextPerFileAndPerLine() throws IOException {
        Path dir = tmp.resolve("txt");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("1.txt"), "first file\nsecond line\n");
        Files.writeString(dir.resolve("2.txt"), "other file");
        PreprocessJob.run(spark, options(tmp.resolve("files").toString(), dir.toString()), quiet());
        assertDataset(tmp.resolve("files_text_document"), List.of("first file\nsecond line\n", "other file"), false);

        PreprocessOptions lines = options(tmp.resolve("lines").toString(), dir.resolve("1.txt").toString());
        lines.textDocument = "line";
        PreprocessJob.run(spark, lines, quiet());
        assertDataset(tmp.resolve("lines_text_document"), List.of("first file", "second line"), false);
    }

    @Test
    void zipEntriesUnderAPrefixAreDocuments() throws IOException {
        Path zip = tmp.resolve("src.zip");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(zip))) {
            for (String[] e : new String[][] {{"java.base/java/A.java", "class A {}"},
                    {"java.base/sun/B.java", "class B {}"}, {"java.base/java/C.java", "class C { int c; }"}}) {
                z.putNextEntry(new ZipEntry(e[0]));
                z.write(e[1].getBytes(StandardCharsets.UTF_8));
                z.closeEntry();
            }
        }
        PreprocessSummary s = PreprocessJob.run(spark,
                options(tmp.resolve("zip").toString(), zip + "!java.base/java/"), quiet());
        assertEquals(2, s.documents());
        assertDataset(tmp.resolve("zip_text_document"), List.of("class A {}", "class C { int c; }"), false);
        assertTrue(readShards(tmp.resolve("zip_text_document_shards")).get(1).source().endsWith("!java.base/java/C.java"));
    }

    @Test
    void parquetTextColumnIsRead() throws IOException {
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);
        List<Row> data = List.of(RowFactory.create(1, "alpha beta"), RowFactory.create(2, "gamma"));
        Dataset<Row> df = spark.createDataFrame(data, schema).coalesce(1);
        Path dir = tmp.resolve("pq");
        df.write().parquet(dir.toString());
        PreprocessJob.run(spark, options(tmp.resolve("fromparquet").toString(), dir.toString()), quiet());
        assertDataset(tmp.resolve("fromparquet_text_document"), List.of("alpha beta", "gamma"), false);
    }

    @Test
    void shardsAreReadableAsASparkDataFrame() throws IOException {
        Path file = tmp.resolve("d.jsonl");
        Files.write(file, List.of(jsonLine("text", "Hello world"), jsonLine("text", "Spark reads this")));
        PreprocessJob.run(spark, options(tmp.resolve("df").toString(), file.toString()), quiet());
        Dataset<Row> shards = spark.read().parquet(tmp.resolve("df_text_document_shards").toString())
                .orderBy("document_id");
        assertEquals("array<int>", shards.schema().apply("tokens").dataType().simpleString());
        List<Row> rows = shards.collectAsList();
        assertEquals(List.of(15496, 995), rows.get(0).getList(rows.get(0).fieldIndex("tokens")));
    }

    @Test
    void malformedJsonFailsNamingFileAndLineAndWritesNothing() throws IOException {
        Path file = tmp.resolve("bad.jsonl");
        Files.write(file, List.of(jsonLine("text", "fine"), "", "{\"text\": \"broken", jsonLine("text", "ok")));
        String out = tmp.resolve("badout/corpus").toString();
        PreprocessFixtures.Run run = PreprocessFixtures.execute("--input", file.toString(), "--output-prefix", out,
                "--workers", "2");
        assertEquals(1, run.code(), run.err());
        assertTrue(run.err().contains(file + " line 3: malformed JSON"), run.err());
        assertTrue(run.err().contains("--skip-bad-records"), run.err());
        assertNoOutputs(tmp.resolve("badout"));
    }

    @Test
    void skipBadRecordsCountsThemAndKeepsTheRest() throws IOException {
        Path file = tmp.resolve("mixed.jsonl");
        byte[] invalidUtf8 = {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}', '\n'};
        try (OutputStream os = Files.newOutputStream(file)) {
            os.write((jsonLine("text", "one") + "\n").getBytes(StandardCharsets.UTF_8));
            os.write("not json\n".getBytes(StandardCharsets.UTF_8));
            os.write("{\"body\": \"no text key\"}\n".getBytes(StandardCharsets.UTF_8));
            os.write(invalidUtf8);
            os.write("{\"text\": 42}\n".getBytes(StandardCharsets.UTF_8));
            os.write("[1, 2]\n".getBytes(StandardCharsets.UTF_8));
            os.write((jsonLine("text", "two") + "\n").getBytes(StandardCharsets.UTF_8));
        }
        PreprocessOptions o = options(tmp.resolve("skip").toString(), file.toString());
        o.skipBadRecords = true;
        PreprocessSummary s = PreprocessJob.run(spark, o, quiet());
        assertEquals(2, s.documents());
        assertEquals(5, s.skippedRecords());
        assertDataset(tmp.resolve("skip_text_document"), List.of("one", "two"), false);
        String errors = String.join("\n", s.firstErrors());
        assertTrue(errors.contains(file + " line 2: malformed JSON"), errors);
        assertTrue(errors.contains(file + " line 3: missing key 'text'"), errors);
        assertTrue(errors.contains(file + " line 4: invalid UTF-8"), errors);
        assertTrue(errors.contains(file + " line 5: key 'text' is a number"), errors);
        assertTrue(errors.contains(file + " line 6: expected a JSON object"), errors);
    }

    @Test
    void badLineInALaterByteRangeReportsItsTrueLineNumber() throws IOException {
        StringBuilder sb = new StringBuilder();
        int line = 0;
        while (sb.length() < 2_500_000) {
            sb.append(jsonLine("text", "filler " + line + " " + "x".repeat(200))).append('\n');
            line++;
        }
        sb.append("{oops\n");
        Path file = tmp.resolve("late.jsonl");
        Files.writeString(file, sb);
        PreprocessOptions o = options(tmp.resolve("late").toString(), file.toString());
        o.skipBadRecords = true;
        PreprocessSummary s = PreprocessJob.run(spark, o, quiet());
        assertEquals(1, s.skippedRecords());
        assertTrue(s.firstErrors().get(0).contains(file + " line " + (line + 1) + ":"), s.firstErrors().get(0));
    }

    @Test
    void nonUtf8PlainTextFailsWithTheFile() throws IOException {
        Path file = tmp.resolve("latin1.txt");
        Files.write(file, new byte[] {'c', 'a', 'f', (byte) 0xE9});
        PreprocessFixtures.Run run = PreprocessFixtures.execute("--input", file.toString(), "--output-prefix",
                tmp.resolve("l1").toString());
        assertEquals(1, run.code());
        assertTrue(run.err().contains(file + ": invalid UTF-8 at byte 3"), run.err());
    }

    @Test
    void existingOutputIsRefusedUnlessOverwrite() throws IOException {
        Path file = tmp.resolve("x.jsonl");
        Files.write(file, List.of(jsonLine("text", "first")));
        String out = tmp.resolve("same").toString();
        PreprocessJob.run(spark, options(out, file.toString()), quiet());
        PreprocessFixtures.Run again = PreprocessFixtures.execute("--input", file.toString(), "--output-prefix", out);
        assertEquals(2, again.code());
        assertTrue(again.err().contains("already exists") && again.err().contains("--overwrite"), again.err());

        Files.write(file, List.of(jsonLine("text", "second"), jsonLine("text", "third")));
        PreprocessOptions o = options(out, file.toString());
        o.overwrite = true;
        PreprocessJob.run(spark, o, quiet());
        assertDataset(Path.of(out + "_text_document"), List.of("second", "third"), false);
        assertEquals(2, readShards(Path.of(out + "_text_document_shards")).size());
    }

    @Test
    void usageErrorsNameTheFlag() throws IOException {
        PreprocessFixtures.Run noOutput = PreprocessFixtures.execute("--input", "x.jsonl");
        assertEquals(2, noOutput.code());
        assertTrue(noOutput.err().contains("--output-prefix"), noOutput.err());

        PreprocessFixtures.Run missing = PreprocessFixtures.execute("--input", tmp.resolve("nope.jsonl").toString(),
                "--output-prefix", tmp.resolve("o").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("nope.jsonl: no such file"), missing.err());

        Path unknown = tmp.resolve("data.csv");
        Files.writeString(unknown, "a,b");
        PreprocessFixtures.Run format = PreprocessFixtures.execute("--input", unknown.toString(), "--output-prefix",
                tmp.resolve("o").toString());
        assertEquals(2, format.code());
        assertTrue(format.err().contains("--input-format"), format.err());

        Path badTok = tmp.resolve("tokenizer.json");
        Files.writeString(badTok, "{ not json");
        Path in = tmp.resolve("t.jsonl");
        Files.write(in, List.of(jsonLine("text", "x")));
        PreprocessFixtures.Run tok = PreprocessFixtures.execute("--input", in.toString(), "--tokenizer",
                badTok.toString(), "--output-prefix", tmp.resolve("o").toString());
        assertEquals(2, tok.code());
        assertTrue(tok.err().contains(badTok + " does not parse"), tok.err());
        assertNoOutputs(tmp);
    }

    @Test
    void huggingFaceTokenizerJsonWithInt32Vocabulary() throws IOException {
        // A WordLevel tokenizer whose ids reach 70000 forces the int32 dtype (vocab >= 65500).
        Path tok = tmp.resolve("tok/tokenizer.json");
        Files.createDirectories(tok.getParent());
        Files.writeString(tok, """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [{"id": 70000, "content": "</s>", "single_word": false, "lstrip": false,
                                   "rstrip": false, "normalized": false, "special": true}],
                 "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
                 "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "big": 69999, "small": 1},
                           "unk_token": "[UNK]"}}
                """);
        Path in = tmp.resolve("w.jsonl");
        Files.write(in, List.of(jsonLine("text", "big small big"), jsonLine("text", "")));
        PreprocessOptions o = options(tmp.resolve("hf").toString(), in.toString());
        o.tokenizer = tok.getParent().toString();
        o.appendEod = true;
        PreprocessJob.run(spark, o, quiet());
        try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("hf_text_document"))) {
            assertEquals(dev.lattice.data.indexed.TokenDType.INT32, ds.dtype());
            assertArrayEquals(new int[] {69999, 1, 69999, 70000}, ds.document(0));
            assertArrayEquals(new int[0], ds.document(1));
        }
    }

    private static void assertNoLeftovers(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            List<Path> bad = s.filter(p -> p.toString().contains("inprogress") || p.toString().contains("staging")
                    || p.toString().endsWith(".crc")).toList();
            assertTrue(bad.isEmpty(), "leftovers: " + bad);
        }
    }

    private static void assertNoOutputs(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            List<Path> outputs = s.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".idx") || n.endsWith(".bin") || n.contains("_shards") || n.contains("staging")
                        || n.endsWith("summary.json");
            }).toList();
            assertTrue(outputs.isEmpty(), "a failed job left " + outputs);
        }
    }

    @Test
    void emptyPartitionsAndEmptyFilesAreFine() throws IOException {
        Path dir = tmp.resolve("e");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("empty.jsonl"), "");
        Files.write(dir.resolve("one.jsonl"), List.of(jsonLine("text", "only")));
        PreprocessSummary s = PreprocessJob.run(spark, options(tmp.resolve("e").toString(), dir.toString()), quiet());
        assertEquals(1, s.documents());
        assertDataset(tmp.resolve("e_text_document"), List.of("only"), false);
        assertFalse(Files.exists(tmp.resolve("e_text_document.bin.crc")));
    }
}
