package dev.lattice.spark.ml;

import dev.lattice.data.indexed.TokenDType;
import dev.lattice.spark.preprocess.OutputLayout;
import dev.lattice.spark.preprocess.TokenizedOutput;
import dev.lattice.spark.preprocess.TokenizedRecord;
import dev.lattice.spark.storage.HadoopStorage;
import dev.lattice.spark.storage.OutputConfiguration;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.storage.StorageLevel;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Writes a DataFrame column of token ids ({@code array<int>}, e.g. from {@link TextTokenizer}) as a Megatron indexed
 * dataset {@code <prefix>_<key>_document.bin/.idx} plus Parquet shards, with the same commit protocol as the
 * preprocessing job. Documents are written in the DataFrame's partition order; sort it first if order matters.
 *
 * <pre>
 * TokenizedDatasetWriter.of(ids).tokensColumn("tokens").vocabSize(50257).write("s3a://bucket/corpus");
 * </pre>
 */
public final class TokenizedDatasetWriter {

    private final Dataset<Row> frame;
    private String tokensColumn = "tokens";
    private String sourceColumn;
    private String key = "text";
    private int vocabSize = -1;
    private boolean overwrite;
    private boolean parquetShards = true;

    private TokenizedDatasetWriter(Dataset<Row> frame) {
        this.frame = frame;
    }

    public static TokenizedDatasetWriter of(Dataset<Row> frame) {
        return new TokenizedDatasetWriter(frame);
    }

    public TokenizedDatasetWriter tokensColumn(String column) {
        this.tokensColumn = column;
        return this;
    }

    /** An optional string column stored as each shard row's source. */
    public TokenizedDatasetWriter sourceColumn(String column) {
        this.sourceColumn = column;
        return this;
    }

    /** The key in the output names ({@code <prefix>_<key>_document}); default "text". */
    public TokenizedDatasetWriter key(String value) {
        this.key = value;
        return this;
    }

    /** The vocabulary size (required): ids must be below it, and it picks uint16 or int32 as Megatron does. */
    public TokenizedDatasetWriter vocabSize(int value) {
        this.vocabSize = value;
        return this;
    }

    public TokenizedDatasetWriter overwrite(boolean value) {
        this.overwrite = value;
        return this;
    }

    public TokenizedDatasetWriter parquetShards(boolean value) {
        this.parquetShards = value;
        return this;
    }

    /** Writes and commits; returns per-partition counts and the bytes written. */
    public TokenizedOutput.Result write(String outputPrefix) throws IOException {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be set (e.g. 50257 for GPT-2)");
        }
        List<String> columns = Arrays.asList(frame.schema().fieldNames());
        if (!columns.contains(tokensColumn)) {
            throw new IllegalArgumentException("tokens column '" + tokensColumn + "' is not a column; columns are "
                    + columns);
        }
        DataType type = frame.schema().apply(tokensColumn).dataType();
        if (!(type instanceof ArrayType a) || !(a.elementType().equals(DataTypes.IntegerType)
                || a.elementType().equals(DataTypes.LongType))) {
            throw new IllegalArgumentException("tokens column '" + tokensColumn + "' is " + type.simpleString()
                    + ", expected array<int>");
        }
        if (sourceColumn != null && !columns.contains(sourceColumn)) {
            throw new IllegalArgumentException("source column '" + sourceColumn + "' is not a column");
        }
        Configuration conf = OutputConfiguration.from(frame.sparkSession().sparkContext().hadoopConfiguration());
        Path p = new Path(outputPrefix);
        String prefix = p.getFileSystem(conf).makeQualified(p).toString();
        HadoopStorage storage = new HadoopStorage(conf);
        TokenizedOutput output = new TokenizedOutput(storage, new TokenizedOutput.Settings(
                new OutputLayout(prefix, new String[] {key}), TokenDType.optimalFor(vocabSize), vocabSize, overwrite,
                parquetShards, 64L << 20, Map.of("lattice.vocab_size", Integer.toString(vocabSize))));
        output.checkOutputsFree();
        String tokens = tokensColumn;
        String source = sourceColumn;
        Dataset<Row> selected = source == null ? frame.select(tokens) : frame.select(tokens, source);
        JavaRDD<TokenizedRecord> records = selected.javaRDD().map(row -> toRecord(row, source != null))
                .persist(StorageLevel.MEMORY_AND_DISK());
        try {
            return output.write(records, null);
        } finally {
            records.unpersist(false);
        }
    }

    private static TokenizedRecord toRecord(Row row, boolean withSource) {
        List<Object> list = row.isNullAt(0) ? List.of() : row.getList(0);
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            Object v = list.get(i);
            if (v == null) {
                throw new IllegalArgumentException("null token id at position " + i + " of a row");
            }
            ids[i] = Math.toIntExact(((Number) v).longValue());
        }
        return TokenizedRecord.document(new int[][] {ids}, withSource ? row.getString(1) : null, 0);
    }
}
