package dev.lattice.spark.ml;

import dev.lattice.spark.train.TrainJob;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Spark ML {@link Estimator} that trains a GPT-2 or Llama model on a DataFrame column of token ids
 * ({@code array<int>}, e.g. from {@link TextTokenizer}): {@code fit} writes the column as an indexed dataset under
 * {@code workDir}, runs the barrier-stage training of {@link TrainJob} with the Params' model, layout and optimizer,
 * and returns a {@link LatticeGptModel} backed by the final checkpoint.
 *
 * <pre>
 * Pipeline p = new Pipeline().setStages(new PipelineStage[] {
 *     new TextTokenizer().setInputCol("text").setAppendEod(true),
 *     new GptEstimator().setWorkDir("hdfs:///tmp/run1").setNumLayers(4).setHiddenSize(256)...});
 * PipelineModel m = p.fit(docs);   m.transform(test)  // adds loss and perplexity columns
 * </pre>
 * Flags not covered by a Param go through {@link #setExtraArgs} (any {@code lattice train} flag).
 */
public final class GptEstimator extends Estimator<LatticeGptModel> implements DefaultParamsWritable {

    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> tokensCol;
    private final Param<String> workDir;
    private final Param<String> model;
    private final IntParam vocabSize;
    private final IntParam numLayers;
    private final IntParam hiddenSize;
    private final IntParam numAttentionHeads;
    private final IntParam seqLength;
    private final IntParam microBatchSize;
    private final IntParam globalBatchSize;
    private final IntParam trainIters;
    private final DoubleParam lr;
    private final IntParam worldSize;
    private final IntParam tensorParallel;
    private final IntParam pipelineParallel;
    private final IntParam zeroStage;
    private final StringArrayParam extraArgs;

    public GptEstimator() {
        this(Identifiable.randomUID("latticeGptEstimator"));
    }

    public GptEstimator(String uid) {
        this.uid = uid;
        tokensCol = new Param<>(this, "tokensCol", "column of token ids (array<int>)");
        workDir = new Param<>(this, "workDir", "directory for the dataset and checkpoints (local, hdfs://, s3a://)");
        model = new Param<>(this, "model", "gpt2 or llama");
        vocabSize = new IntParam(this, "vocabSize", "vocabulary size of the token ids");
        numLayers = new IntParam(this, "numLayers", "--num-layers");
        hiddenSize = new IntParam(this, "hiddenSize", "--hidden-size");
        numAttentionHeads = new IntParam(this, "numAttentionHeads", "--num-attention-heads");
        seqLength = new IntParam(this, "seqLength", "--seq-length");
        microBatchSize = new IntParam(this, "microBatchSize", "--micro-batch-size");
        globalBatchSize = new IntParam(this, "globalBatchSize", "--global-batch-size");
        trainIters = new IntParam(this, "trainIters", "--train-iters");
        lr = new DoubleParam(this, "lr", "--lr");
        worldSize = new IntParam(this, "worldSize", "ranks (Spark barrier tasks)");
        tensorParallel = new IntParam(this, "tensorParallel", "--tensor-model-parallel-size");
        pipelineParallel = new IntParam(this, "pipelineParallel", "--pipeline-model-parallel-size");
        zeroStage = new IntParam(this, "zeroStage", "--zero-stage");
        extraArgs = new StringArrayParam(this, "extraArgs", "further lattice train flags");
        setDefault(tokensCol, "tokens");
        setDefault(model, "gpt2");
        setDefault(vocabSize, 50257);
        setDefault(numLayers, 2);
        setDefault(hiddenSize, 64);
        setDefault(numAttentionHeads, 4);
        setDefault(seqLength, 64);
        setDefault(microBatchSize, 2);
        setDefault(globalBatchSize, 8);
        setDefault(trainIters, 100);
        setDefault(lr, 1e-3);
        setDefault(worldSize, 1);
        setDefault(tensorParallel, 1);
        setDefault(pipelineParallel, 1);
        setDefault(zeroStage, 0);
        setDefault(extraArgs, new String[0]);
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> tokensCol() {
        return tokensCol;
    }

    public Param<String> workDir() {
        return workDir;
    }

    public Param<String> model() {
        return model;
    }

    public IntParam vocabSize() {
        return vocabSize;
    }

    public IntParam numLayers() {
        return numLayers;
    }

    public IntParam hiddenSize() {
        return hiddenSize;
    }

    public IntParam numAttentionHeads() {
        return numAttentionHeads;
    }

    public IntParam seqLength() {
        return seqLength;
    }

    public IntParam microBatchSize() {
        return microBatchSize;
    }

    public IntParam globalBatchSize() {
        return globalBatchSize;
    }

    public IntParam trainIters() {
        return trainIters;
    }

    public DoubleParam lr() {
        return lr;
    }

    public IntParam worldSize() {
        return worldSize;
    }

    public IntParam tensorParallel() {
        return tensorParallel;
    }

    public IntParam pipelineParallel() {
        return pipelineParallel;
    }

    public IntParam zeroStage() {
        return zeroStage;
    }

    public StringArrayParam extraArgs() {
        return extraArgs;
    }

    public GptEstimator setTokensCol(String v) {
        set(tokensCol, v);
        return this;
    }

    public GptEstimator setWorkDir(String v) {
        set(workDir, v);
        return this;
    }

    public GptEstimator setModel(String v) {
        set(model, v);
        return this;
    }

    public GptEstimator setVocabSize(int v) {
        set(vocabSize, v);
        return this;
    }

    public GptEstimator setNumLayers(int v) {
        set(numLayers, v);
        return this;
    }

    public GptEstimator setHiddenSize(int v) {
        set(hiddenSize, v);
        return this;
    }

    public GptEstimator setNumAttentionHeads(int v) {
        set(numAttentionHeads, v);
        return this;
    }

    public GptEstimator setSeqLength(int v) {
        set(seqLength, v);
        return this;
    }

    public GptEstimator setMicroBatchSize(int v) {
        set(microBatchSize, v);
        return this;
    }

    public GptEstimator setGlobalBatchSize(int v) {
        set(globalBatchSize, v);
        return this;
    }

    public GptEstimator setTrainIters(int v) {
        set(trainIters, v);
        return this;
    }

    public GptEstimator setLr(double v) {
        set(lr, v);
        return this;
    }

    public GptEstimator setWorldSize(int v) {
        set(worldSize, v);
        return this;
    }

    public GptEstimator setTensorParallel(int v) {
        set(tensorParallel, v);
        return this;
    }

    public GptEstimator setPipelineParallel(int v) {
        set(pipelineParallel, v);
        return this;
    }

    public GptEstimator setZeroStage(int v) {
        set(zeroStage, v);
        return this;
    }

    public GptEstimator setExtraArgs(String[] v) {
        set(extraArgs, v);
        return this;
    }

    private int i(IntParam p) {
        return (Integer) getOrDefault(p);
    }

    /** The {@code lattice train} flags the Params stand for. */
    public List<String> trainArgs(String dataPrefix, String checkpoints) {
        List<String> a = new ArrayList<>(List.of("--model", getOrDefault(model), "--vocab-size",
                Integer.toString(i(vocabSize)), "--num-layers", Integer.toString(i(numLayers)), "--hidden-size",
                Integer.toString(i(hiddenSize)), "--num-attention-heads", Integer.toString(i(numAttentionHeads)),
                "--seq-length", Integer.toString(i(seqLength)), "--micro-batch-size",
                Integer.toString(i(microBatchSize)), "--global-batch-size", Integer.toString(i(globalBatchSize)),
                "--train-iters", Integer.toString(i(trainIters)), "--lr", Double.toString((Double) getOrDefault(lr)),
                "--world-size", Integer.toString(i(worldSize)), "--tensor-model-parallel-size",
                Integer.toString(i(tensorParallel)), "--pipeline-model-parallel-size",
                Integer.toString(i(pipelineParallel)), "--zero-stage", Integer.toString(i(zeroStage)),
                "--data-path", dataPrefix, "--split", "100,0,0", "--eval-iters", "0", "--save", checkpoints,
                "--log-interval", "10"));
        a.addAll(Arrays.asList(getOrDefault(extraArgs)));
        return a;
    }

    @Override
    public LatticeGptModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema(), true);
        if (!isDefined(workDir)) {
            throw new IllegalArgumentException("workDir must be set (where the dataset and checkpoints go)");
        }
        String dir = getOrDefault(workDir);
        String prefix = dir + "/data/corpus";
        String checkpoints = dir + "/checkpoints";
        try {
            @SuppressWarnings("unchecked")
            Dataset<Row> rows = (Dataset<Row>) dataset;
            TokenizedDatasetWriter.of(rows).tokensColumn(getOrDefault(tokensCol)).vocabSize(i(vocabSize))
                    .overwrite(true).parquetShards(false).write(prefix);
            TrainJob.run(dataset.sparkSession(), TrainJob.JobOptions.parse(
                    trainArgs(localPath(prefix) + "_text_document", checkpoints).toArray(new String[0])),
                    new PrintStream(System.out, true));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return copyValues(new LatticeGptModel(Identifiable.randomUID("latticeGptModel")).setCheckpoint(checkpoints)
                .setTokensCol(getOrDefault(tokensCol)), ParamMap.empty()).setParent(this);
    }

    /** The trainer reads indexed datasets through memory maps: local paths (file: URIs are accepted). */
    private static String localPath(String p) {
        return p.startsWith("file:") ? java.nio.file.Path.of(java.net.URI.create(p)).toString() : p;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String col = getOrDefault(tokensCol);
        if (!Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("tokensCol '" + col + "' is not a column; columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        return schema;
    }

    @Override
    public GptEstimator copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    public static MLReader<GptEstimator> read() {
        return new DefaultParamsReader<>();
    }

    public static GptEstimator load(String path) {
        return read().load(path);
    }
}
