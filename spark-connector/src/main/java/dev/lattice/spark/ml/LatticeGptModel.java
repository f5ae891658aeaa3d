package dev.lattice.spark.ml;

import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.data.tokenizer.TextTokenizer;
import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.trainer.cli.ExportHfCommand;
import dev.lattice.trainer.cli.GenerateCommand;
import dev.lattice.trainer.cli.ModelLoader;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What {@link GptEstimator#fit} returns: a trained model (a Lattice checkpoint) that adds {@code loss} (mean nats
 * per predicted token; every token after the first is predicted) and {@code perplexity} columns to a DataFrame of
 * token ids. Rows longer than the model's context are scored on their first max-positions + 1 tokens. With
 * {@code promptCol} set it also adds {@code generated_text}: the prompt and up to {@code maxNewTokens} tokens, the
 * same text {@code lattice generate} prints (greedy at {@code temperature} 0; seed 1234 otherwise); scoring then
 * happens only when the frame has the tokens column. Persists with Spark ML's writers (its Params, including the
 * checkpoint path); exports to HuggingFace.
 */
public final class LatticeGptModel extends Model<LatticeGptModel> implements DefaultParamsWritable {

    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> checkpoint;
    private final Param<String> tokensCol;
    private final Param<String> lossCol;
    private final Param<String> perplexityCol;
    private final Param<String> promptCol;
    private final Param<String> generatedTextCol;
    private final Param<String> tokenizer;
    private final IntParam maxNewTokens;
    private final DoubleParam temperature;

    public LatticeGptModel(String uid) {
        this.uid = uid;
        checkpoint = new Param<>(this, "checkpoint", "the Lattice checkpoint directory (or a HuggingFace model dir)");
        tokensCol = new Param<>(this, "tokensCol", "column of token ids (array<int>)");
        lossCol = new Param<>(this, "lossCol", "output column: mean loss per predicted token");
        perplexityCol = new Param<>(this, "perplexityCol", "output column: exp(loss)");
        setDefault(tokensCol, "tokens");
        setDefault(lossCol, "loss");
        setDefault(perplexityCol, "perplexity");
        promptCol = new Param<>(this, "promptCol", "input column of prompt text; when set, text is generated");
        generatedTextCol = new Param<>(this, "generatedTextCol", "output column: prompt + generated text");
        tokenizer = new Param<>(this, "tokenizer", "tokenizer of the prompts: gpt2 or a tokenizer.json path");
        maxNewTokens = new IntParam(this, "maxNewTokens", "tokens to generate per prompt (>= 0)",
                ParamValidators.gtEq(0));
        temperature = new DoubleParam(this, "temperature", "sampling temperature; 0 = greedy",
                ParamValidators.gtEq(0));
        setDefault(generatedTextCol, "generated_text");
        setDefault(tokenizer, "gpt2");
        setDefault(maxNewTokens, 32);
        setDefault(temperature, 0.0);
    }

    public Param<String> promptCol() {
        return promptCol;
    }

    public Param<String> generatedTextCol() {
        return generatedTextCol;
    }

    public Param<String> tokenizer() {
        return tokenizer;
    }

    public IntParam maxNewTokens() {
        return maxNewTokens;
    }

    public DoubleParam temperature() {
        return temperature;
    }

    public LatticeGptModel setPromptCol(String v) {
        set(promptCol, v);
        return this;
    }

    public LatticeGptModel setGeneratedTextCol(String v) {
        set(generatedTextCol, v);
        return this;
    }

    public LatticeGptModel setTokenizer(String v) {
        set(tokenizer, v);
        return this;
    }

    public LatticeGptModel setMaxNewTokens(int v) {
        set(maxNewTokens, v);
        return this;
    }

    public LatticeGptModel setTemperature(double v) {
        set(temperature, v);
        return this;
    }

    private boolean generates() {
        return isSet(promptCol);
    }

    private boolean scores(StructType schema) {
        return !generates() || Arrays.asList(schema.fieldNames()).contains(getOrDefault(tokensCol));
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> checkpoint() {
        return checkpoint;
    }

    public Param<String> tokensCol() {
        return tokensCol;
    }

    public Param<String> lossCol() {
        return lossCol;
    }

    public Param<String> perplexityCol() {
        return perplexityCol;
    }

    public LatticeGptModel setCheckpoint(String v) {
        set(checkpoint, v);
        return this;
    }

    public LatticeGptModel setTokensCol(String v) {
        set(tokensCol, v);
        return this;
    }

    public String getCheckpoint() {
        return getOrDefault(checkpoint);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        transformSchema(dataset.schema(), true);
        Dataset<Row> out = dataset.toDF();
        if (scores(dataset.schema())) {
            UserDefinedFunction score = functions.udf(new ScoreUdf(getCheckpoint()), DataTypes.DoubleType);
            out = out.withColumn(getOrDefault(lossCol), score.apply(out.col(getOrDefault(tokensCol))));
            out = out.withColumn(getOrDefault(perplexityCol), functions.exp(out.col(getOrDefault(lossCol))));
        }
        if (generates()) {
            UserDefinedFunction generate = functions.udf(new GenerateUdf(getCheckpoint(), getOrDefault(tokenizer),
                    (Integer) getOrDefault(maxNewTokens), (Double) getOrDefault(temperature)), DataTypes.StringType);
            out = out.withColumn(getOrDefault(generatedTextCol), generate.apply(out.col(getOrDefault(promptCol))));
        }
        return out;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        StructType out = schema;
        if (generates()) {
            String prompt = getOrDefault(promptCol);
            if (!Arrays.asList(schema.fieldNames()).contains(prompt)) {
                throw new IllegalArgumentException("promptCol '" + prompt + "' is not a column; columns are "
                        + Arrays.toString(schema.fieldNames()));
            }
        }
        if (scores(schema)) {
            String col = getOrDefault(tokensCol);
            if (!Arrays.asList(schema.fieldNames()).contains(col)) {
                throw new IllegalArgumentException("tokensCol '" + col + "' is not a column; columns are "
                        + Arrays.toString(schema.fieldNames()));
            }
            out = out.add(getOrDefault(lossCol), DataTypes.DoubleType, true)
                    .add(getOrDefault(perplexityCol), DataTypes.DoubleType, true);
        }
        if (generates()) {
            out = out.add(getOrDefault(generatedTextCol), DataTypes.StringType, true);
        }
        return out;
    }

    /** Writes the model as a HuggingFace directory (config.json + model.safetensors). */
    public void exportHuggingFace(String dir) {
        int code = ExportHfCommand.execute(new String[] {"--checkpoint", getCheckpoint(), "--output", dir},
                System.out, System.err);
        if (code != 0) {
            throw new IllegalStateException("export of " + getCheckpoint() + " to " + dir + " failed");
        }
    }

    @Override
    public LatticeGptModel copy(ParamMap extra) {
        return copyValues(new LatticeGptModel(uid), extra).setParent(parent());
    }

    public static MLReader<LatticeGptModel> read() {
        return new DefaultParamsReader<>();
    }

    public static LatticeGptModel load(String path) {
        return read().load(path);
    }

    private static final Map<String, GptModel> MODELS = new ConcurrentHashMap<>();

    /** Each executor JVM loads a checkpoint once; models are not thread-safe, so callers lock the model. */
    private static GptModel model(String checkpoint) {
        return MODELS.computeIfAbsent(checkpoint, c -> {
            try {
                return ModelLoader.load(c, new CpuBackend());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Generates from one prompt (null or an empty encoding gives null). */
    static final class GenerateUdf implements UDF1<String, String> {
        private static final long serialVersionUID = 1L;

        private final String checkpoint;
        private final String tokenizer;
        private final int maxNewTokens;
        private final double temperature;
        private transient TextTokenizer tok; // resolved once per executor copy, not per row (it may read a file)

        GenerateUdf(String checkpoint, String tokenizer, int maxNewTokens, double temperature) {
            this.checkpoint = checkpoint;
            this.tokenizer = tokenizer;
            this.maxNewTokens = maxNewTokens;
            this.temperature = temperature;
        }

        @Override
        public String call(String prompt) {
            if (prompt == null) {
                return null;
            }
            if (tok == null) {
                tok = TokenizerSpec.of(tokenizer).tokenizer();
            }
            int[] ids = tok.encode(prompt);
            if (ids.length == 0) {
                return null;
            }
            GptModel m = model(checkpoint);
            int[] generated;
            synchronized (m) {
                generated = GenerateCommand.sample(m, ids, maxNewTokens, temperature, 0, 1234L);
            }
            return tok.decode(generated);
        }
    }

    /** Scores one row (model loaded once per executor JVM, one row at a time). */
    static final class ScoreUdf implements UDF1<scala.collection.Seq<Integer>, Double> {
        private static final long serialVersionUID = 1L;

        private final String checkpoint;

        ScoreUdf(String checkpoint) {
            this.checkpoint = checkpoint;
        }

        @Override
        public Double call(scala.collection.Seq<Integer> seq) {
            if (seq == null || seq.size() < 2) {
                return null;
            }
            GptModel m = model(checkpoint);
            int n = Math.min(seq.size(), m.config().maxPositionEmbeddings() + 1);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = seq.apply(i);
            }
            int t = n - 1;
            float[] mask = new float[t];
            Arrays.fill(mask, 1f);
            float[] losses;
            synchronized (m) {
                losses = m.forward(new Batch(Arrays.copyOf(ids, t), Arrays.copyOfRange(ids, 1, n), mask, 1, t));
            }
            double s = 0;
            for (float l : losses) {
                s += l;
            }
            return s / t;
        }
    }
}
