package dev.lattice.spark.ml;

import dev.lattice.spark.testing.SparkTestSession;
import dev.lattice.trainer.cli.ScoreCommand;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Text → TextTokenizer → GptEstimator in one Pipeline, trained as a barrier stage; the model scores rows. */
class GptEstimatorTest {

    @TempDir
    Path tmp;

    private Dataset<Row> texts(int n, long seed, int wordsPerRow) {
        SparkSession spark = SparkTestSession.get();
        java.util.Random r = new java.util.Random(seed);
        String[] words = {"the", "spark", "model", "learns", "tokens", "from", "rows", "of", "text"};
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder b = new StringBuilder();
            for (int w = 0; w < wordsPerRow; w++) {
                b.append(words[r.nextInt(words.length)]).append(' ');
            }
            rows.add(RowFactory.create(i, b.toString()));
        }
        return spark.createDataFrame(rows, new StructType().add("id", DataTypes.IntegerType)
                .add("text", DataTypes.StringType)).coalesce(2);
    }

    @Test
    void pipelineTrainsScoresAndRoundTrips() throws Exception {
        GptEstimator gpt = new GptEstimator().setWorkDir(tmp.resolve("work").toString()).setNumLayers(2)
                .setHiddenSize(32).setNumAttentionHeads(4).setSeqLength(16).setMicroBatchSize(2)
                .setGlobalBatchSize(4).setTrainIters(6).setWorldSize(2).setTensorParallel(2);
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {
            new TextTokenizer().setInputCol("text").setOutputCol("tokens").setAppendEod(true), gpt});
        PipelineModel model = pipeline.fit(texts(60, 1, 30));
        LatticeGptModel trained = (LatticeGptModel) model.stages()[1];
        assertTrue(Files.exists(Path.of(trained.getCheckpoint(), "latest_checkpointed_iteration.txt")));

        Dataset<Row> scored = model.transform(texts(3, 2, 12)).orderBy("id");
        List<Row> rows = scored.collectAsList();
        assertEquals(3, rows.size());
        // The CLI's scorer on the same ids gives the same loss.
        Path jsonl = tmp.resolve("rows.jsonl");
        List<String> lines = new ArrayList<>();
        for (Row row : rows) {
            lines.add("{\"input_ids\": " + row.getList(row.fieldIndex("tokens")) + "}");
        }
        Files.write(jsonl, lines);
        double sum = 0;
        long predicted = 0;
        for (Row row : rows) {
            double loss = row.getDouble(row.fieldIndex("loss"));
            int t = row.getList(row.fieldIndex("tokens")).size() - 1;
            sum += loss * t;
            predicted += t;
            assertEquals(Math.exp(loss), row.getDouble(row.fieldIndex("perplexity")), 1e-9);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ScoreCommand.execute(new String[] {"--checkpoint", trained.getCheckpoint(), "--input", jsonl.toString()},
                new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        double cli = com.google.gson.JsonParser.parseString(out.toString(StandardCharsets.UTF_8)).getAsJsonObject()
                .get("loss").getAsDouble();
        assertEquals(cli, sum / predicted, 1e-6);

        Path saved = tmp.resolve("pipeline-model");
        model.write().overwrite().save(saved.toString());
        PipelineModel back = PipelineModel.load(saved.toString());
        Row again = back.transform(texts(3, 2, 12)).orderBy("id").collectAsList().get(0);
        assertEquals(rows.get(0).getDouble(rows.get(0).fieldIndex("loss")), again.getDouble(again.fieldIndex("loss")),
                1e-12);

        // generated_text equals what `lattice generate` prints for the same checkpoint and prompt (greedy)
        Dataset<Row> prompts = SparkTestSession.get().createDataFrame(List.of(RowFactory.create(0, "the spark model"),
                RowFactory.create(1, null)), new StructType().add("id", DataTypes.IntegerType)
                .add("prompt", DataTypes.StringType));
        Dataset<Row> generated = trained.copy(new org.apache.spark.ml.param.ParamMap()).setPromptCol("prompt")
                .setMaxNewTokens(6).transform(prompts).orderBy("id");
        assertTrue(!List.of(generated.columns()).contains("loss"), "no tokens column, no scoring");
        List<Row> g = generated.collectAsList();
        ByteArrayOutputStream gen = new ByteArrayOutputStream();
        assertEquals(0, dev.lattice.trainer.cli.GenerateCommand.execute(new String[] {"--checkpoint",
                trained.getCheckpoint(), "--prompt", "the spark model", "--max-new-tokens", "6", "--temperature", "0"},
                new PrintStream(gen, true, StandardCharsets.UTF_8), System.err));
        String expected = gen.toString(StandardCharsets.UTF_8);
        assertEquals(expected.substring(0, expected.length() - System.lineSeparator().length()),
                g.get(0).getString(g.get(0).fieldIndex("generated_text")));
        assertTrue(g.get(0).getString(g.get(0).fieldIndex("generated_text")).startsWith("the spark model"));
        assertTrue(g.get(1).isNullAt(g.get(1).fieldIndex("generated_text")));

        trained.exportHuggingFace(tmp.resolve("hf").toString());
        assertTrue(Files.exists(tmp.resolve("hf/config.json")));
    }
}
