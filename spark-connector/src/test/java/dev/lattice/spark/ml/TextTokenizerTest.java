package dev.lattice.spark.ml;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.spark.testing.SparkTestSession;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TextTokenizerTest {

    static SparkSession spark;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    private Dataset<Row> docs(String... texts) {
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("body", DataTypes.StringType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            rows.add(RowFactory.create(i, texts[i]));
        }
        return spark.createDataFrame(rows, schema);
    }

    @Test
    void tokenizesAColumnIntoGpt2Ids() {
        Dataset<Row> out = new TextTokenizer().setInputCol("body").setOutputCol("ids").setAppendEod(true)
                .transform(docs("Hello world", "", null)).orderBy("id");
        assertEquals("array<int>", out.schema().apply("ids").dataType().simpleString());
        List<Row> rows = out.collectAsList();
        assertEquals(List.of(15496, 995, 50256), rows.get(0).getList(rows.get(0).fieldIndex("ids")));
        assertEquals(List.of(), rows.get(1).getList(rows.get(1).fieldIndex("ids")), "no EOD on an empty text");
        assertTrue(rows.get(2).isNullAt(rows.get(2).fieldIndex("ids")), "null text gives null ids");
    }

    @Test
    void worksInAPipelineAndSurvivesSaveAndLoad() throws IOException {
        TextTokenizer tok = new TextTokenizer().setInputCol("body").setOutputCol("ids");
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {tok});
        PipelineModel model = pipeline.fit(docs("a b c"));
        Path dir = tmp.resolve("model");
        model.write().overwrite().save(dir.toString());
        PipelineModel loaded = PipelineModel.load(dir.toString());
        Row expected = model.transform(docs("Spark ML pipeline")).collectAsList().get(0);
        Row got = loaded.transform(docs("Spark ML pipeline")).collectAsList().get(0);
        assertEquals(expected.getList(expected.fieldIndex("ids")), got.getList(got.fieldIndex("ids")));

        tok.write().overwrite().save(tmp.resolve("tok").toString());
        TextTokenizer back = TextTokenizer.load(tmp.resolve("tok").toString());
        assertEquals("body", back.getInputCol());
        assertEquals("ids", back.getOutputCol());
        assertEquals("gpt2", back.getTokenizer());
        assertEquals(tok.uid(), back.uid());
    }

    @Test
    void schemaErrorsNameTheColumn() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> new TextTokenizer().setInputCol("nope").transform(docs("x")));
        assertTrue(missing.getMessage().contains("'nope'"), missing.getMessage());
        IllegalArgumentException notString = assertThrows(IllegalArgumentException.class,
                () -> new TextTokenizer().setInputCol("id").transform(docs("x")));
        assertTrue(notString.getMessage().contains("expected string"), notString.getMessage());
        IllegalArgumentException exists = assertThrows(IllegalArgumentException.class,
                () -> new TextTokenizer().setInputCol("body").setOutputCol("id").transform(docs("x")));
        assertTrue(exists.getMessage().contains("already exists"), exists.getMessage());
    }

    @Test
    void dataFrameOfIdsBecomesAnIndexedDataset() throws IOException {
        Dataset<Row> ids = new TextTokenizer().setInputCol("body").setAppendEod(true)
                .transform(docs("first doc", "second doc here", "third")).orderBy("id").coalesce(2);
        String prefix = tmp.resolve("frame/corpus").toString();
        var result = TokenizedDatasetWriter.of(ids).tokensColumn("tokens").vocabSize(50257).write(prefix);
        assertEquals(3, result.documents());

        List<Row> rows = ids.collectAsList();
        try (IndexedDataset ds = IndexedDataset.open(Path.of(prefix + "_text_document"))) {
            assertEquals(TokenDType.UINT16, ds.dtype());
            assertEquals(3, ds.documentCount());
            for (int d = 0; d < 3; d++) {
                int[] expected = rows.get(d).<Integer>getList(rows.get(d).fieldIndex("tokens")).stream()
                        .mapToInt(Integer::intValue).toArray();
                assertArrayEquals(expected, ds.document(d));
            }
        }
        assertTrue(Files.exists(Path.of(prefix + "_text_document_shards/_SUCCESS")));
    }

    @Test
    void idsOutsideTheVocabularyFailTheWriteAndLeaveNothing() throws IOException {
        StructType schema = new StructType().add("tokens", DataTypes.createArrayType(DataTypes.IntegerType));
        Dataset<Row> frame = spark.createDataFrame(List.of(RowFactory.create((Object) Arrays.asList(1, 2)),
                RowFactory.create((Object) Arrays.asList(3, 70000))), schema);
        String prefix = tmp.resolve("bad/corpus").toString();
        Exception e = assertThrows(Exception.class,
                () -> TokenizedDatasetWriter.of(frame).vocabSize(50257).write(prefix));
        assertTrue(String.valueOf(e.getMessage()).contains("token id 70000"), e.getMessage());
        try (var files = Files.walk(tmp.resolve("bad"))) {
            assertEquals(List.of(tmp.resolve("bad")), files.toList(), "no partial output is left");
        }
        IllegalArgumentException noVocab = assertThrows(IllegalArgumentException.class,
                () -> TokenizedDatasetWriter.of(frame).write(prefix));
        assertTrue(noVocab.getMessage().contains("vocabSize"));
    }
}
