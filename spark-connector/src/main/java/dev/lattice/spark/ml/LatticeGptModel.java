package dev.lattice.spark.ml;

import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.cli.ExportHfCommand;
import dev.lattice.trainer.cli.ModelLoader;
import dev.lattice.trainer.model.Batch;
import dev.lattice.trainer.model.GptModel;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.Param;
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
 * token ids. Rows longer than the model's context are scored on their first max-positions + 1 tokens. Persists with Spark ML's writers (its Params, including the checkpoint path); exports to HuggingFace.
 */
public final class LatticeGptModel extends Model<LatticeGptModel> implements DefaultParamsWritable {

    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> checkpoint;
    private final Param<String> tokensCol;
    private final Param<String> lossCol;
    private final Param<String> perplexityCol;

    public LatticeGptModel(String uid) {
        this.uid = uid;
        checkpoint = new Param<>(this, "checkpoint", "the Lattice checkpoint directory (or a HuggingFace model dir)");
        tokensCol = new Param<>(this, "tokensCol", "column of token ids (array<int>)");
        lossCol = new Param<>(this, "lossCol", "output column: mean loss per predicted token");
        perplexityCol = new Param<>(this, "perplexityCol", "output column: exp(loss)");
        setDefault(tokensCol, "tokens");
        setDefault(lossCol, "loss");
        setDefault(perplexityCol, "perplexity");
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
        UserDefinedFunction score = functions.udf(new ScoreUdf(getCheckpoint()), DataTypes.DoubleType);
        Dataset<Row> withLoss = dataset.withColumn(getOrDefault(lossCol),
                score.apply(dataset.col(getOrDefault(tokensCol))));
        return withLoss.withColumn(getOrDefault(perplexityCol), functions.exp(withLoss.col(getOrDefault(lossCol))));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String col = getOrDefault(tokensCol);
        if (!Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("tokensCol '" + col + "' is not a column; columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        return schema.add(getOrDefault(lossCol), DataTypes.DoubleType, true)
                .add(getOrDefault(perplexityCol), DataTypes.DoubleType, true);
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

    /** Scores one row; each executor JVM loads the checkpoint once (models are not thread-safe: one row at a time). */
    static final class ScoreUdf implements UDF1<scala.collection.Seq<Integer>, Double> {
        private static final long serialVersionUID = 1L;
        private static final Map<String, GptModel> MODELS = new ConcurrentHashMap<>();

        private final String checkpoint;

        ScoreUdf(String checkpoint) {
            this.checkpoint = checkpoint;
        }

        @Override
        public Double call(scala.collection.Seq<Integer> seq) {
            if (seq == null || seq.size() < 2) {
                return null;
            }
            GptModel m = MODELS.computeIfAbsent(checkpoint, c -> {
                try {
                    return ModelLoader.load(c, new CpuBackend());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
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
