package dev.lattice.spark.ml;

import dev.lattice.data.tokenizer.TokenizerSpec;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.Arrays;

/**
 * A Spark ML {@link Transformer} that tokenizes a string column into an {@code array<int>} column of token ids with
 * GPT-2 BPE or a HuggingFace {@code tokenizer.json}. Usable in a {@link org.apache.spark.ml.Pipeline} and
 * persistable with {@code save}/{@link #load}.
 *
 * <pre>
 * Dataset&lt;Row&gt; ids = new TextTokenizer().setInputCol("text").setOutputCol("tokens").setAppendEod(true)
 *     .transform(docs);
 * </pre>
 * A tokenizer.json is read on the driver at {@code transform} time and shipped to executors with the task.
 */
public final class TextTokenizer extends Transformer implements DefaultParamsWritable {

    private static final long serialVersionUID = 1L;
    static final DataType OUTPUT_TYPE = DataTypes.createArrayType(DataTypes.IntegerType, false);

    private final String uid;
    private final Param<String> inputCol;
    private final Param<String> outputCol;
    private final Param<String> tokenizer;
    private final BooleanParam appendEod;

    public TextTokenizer() {
        this(Identifiable.randomUID("latticeTextTokenizer"));
    }

    public TextTokenizer(String uid) {
        this.uid = uid;
        this.inputCol = new Param<>(this, "inputCol", "input column of text");
        this.outputCol = new Param<>(this, "outputCol", "output column of token ids (array<int>)");
        this.tokenizer = new Param<>(this, "tokenizer",
                "'gpt2' or the path of a HuggingFace tokenizer.json (read on the driver)");
        this.appendEod = new BooleanParam(this, "appendEod",
                "append the end-of-document id to every non-empty text");
        setDefault(inputCol, "text");
        setDefault(outputCol, "tokens");
        setDefault(tokenizer, "gpt2");
        setDefault(appendEod, false);
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> inputCol() {
        return inputCol;
    }

    public Param<String> outputCol() {
        return outputCol;
    }

    public Param<String> tokenizer() {
        return tokenizer;
    }

    public BooleanParam appendEod() {
        return appendEod;
    }

    public String getInputCol() {
        return getOrDefault(inputCol);
    }

    public String getOutputCol() {
        return getOrDefault(outputCol);
    }

    public String getTokenizer() {
        return getOrDefault(tokenizer);
    }

    public boolean getAppendEod() {
        return (Boolean) getOrDefault(appendEod);
    }

    public TextTokenizer setInputCol(String value) {
        set(inputCol, value);
        return this;
    }

    public TextTokenizer setOutputCol(String value) {
        set(outputCol, value);
        return this;
    }

    public TextTokenizer setTokenizer(String value) {
        set(tokenizer, value);
        return this;
    }

    public TextTokenizer setAppendEod(boolean value) {
        set(appendEod, value);
        return this;
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        transformSchema(dataset.schema(), true);
        TokenizerSpec spec = TokenizerSpec.of(getTokenizer());
        if (getAppendEod() && spec.tokenizer().eodId() < 0) {
            throw new IllegalArgumentException("appendEod: tokenizer " + getTokenizer()
                    + " has no end-of-document token");
        }
        UserDefinedFunction udf = functions.udf(new TokenizeUdf(spec, getAppendEod()), OUTPUT_TYPE);
        return dataset.withColumn(getOutputCol(), udf.apply(dataset.col(getInputCol())));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String in = getInputCol();
        String out = getOutputCol();
        if (!Arrays.asList(schema.fieldNames()).contains(in)) {
            throw new IllegalArgumentException("inputCol '" + in + "' is not a column; columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        DataType type = schema.apply(in).dataType();
        if (!type.equals(DataTypes.StringType)) {
            throw new IllegalArgumentException("inputCol '" + in + "' is " + type.simpleString()
                    + ", expected string");
        }
        if (Arrays.asList(schema.fieldNames()).contains(out)) {
            throw new IllegalArgumentException("outputCol '" + out + "' already exists");
        }
        return schema.add(new StructField(out, OUTPUT_TYPE, true, org.apache.spark.sql.types.Metadata.empty()));
    }

    @Override
    public TextTokenizer copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    /** The reader {@link org.apache.spark.ml.Pipeline} loading calls by reflection. */
    public static MLReader<TextTokenizer> read() {
        return new DefaultParamsReader<>();
    }

    public static TextTokenizer load(String path) {
        return read().load(path);
    }
}
