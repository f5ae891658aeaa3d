package dev.lattice.data.parquet;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;

import java.io.Closeable;
import java.io.IOException;
import java.util.Map;

/**
 * Writes one tokenized Parquet shard through parquet-hadoop, to any Hadoop path. Row groups default to 64 MiB:
 * large enough for sequential scans, small enough that a reader of one row group stays modest in memory.
 */
public final class TokenShardWriter implements Closeable {

    public static final long DEFAULT_ROW_GROUP_BYTES = 64L << 20;

    private final ParquetWriter<TokenRow> writer;
    private long rows;

    private TokenShardWriter(ParquetWriter<TokenRow> writer) {
        this.writer = writer;
    }

    /**
     * @param metadata key/value pairs stored in the file footer (tokenizer, vocabulary size, ...)
     */
    public static TokenShardWriter open(Path path, Configuration conf, long rowGroupBytes, Map<String, String> metadata)
            throws IOException {
        ParquetWriter<TokenRow> w = new Builder(HadoopOutputFile.fromPath(path, conf), metadata)
                .withConf(conf)
                .withWriteMode(ParquetFileWriter.Mode.CREATE)
                .withCompressionCodec(CompressionCodecName.SNAPPY)
                .withRowGroupSize(rowGroupBytes)
                .withDictionaryEncoding(false)
                .build();
        return new TokenShardWriter(w);
    }

    public void write(TokenRow row) throws IOException {
        writer.write(row);
        rows++;
    }

    public long rows() {
        return rows;
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }

    private static final class Builder extends ParquetWriter.Builder<TokenRow, Builder> {
        private final Map<String, String> metadata;

        Builder(HadoopOutputFile file, Map<String, String> metadata) {
            super(file);
            this.metadata = metadata;
        }

        @Override
        protected Builder self() {
            return this;
        }

        @Override
        protected WriteSupport<TokenRow> getWriteSupport(Configuration conf) {
            return new TokenRowWriteSupport(metadata);
        }
    }
}
