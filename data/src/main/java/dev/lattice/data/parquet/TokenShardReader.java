package dev.lattice.data.parquet;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.MessageType;

import java.io.Closeable;
import java.io.IOException;
import java.util.Map;

/** Reads a tokenized Parquet shard row by row, checking that it has the shard schema. */
public final class TokenShardReader implements Closeable {

    private final ParquetReader<Group> reader;
    private final Map<String, String> metadata;

    private TokenShardReader(ParquetReader<Group> reader, Map<String, String> metadata) {
        this.reader = reader;
        this.metadata = metadata;
    }

    public static TokenShardReader open(Path path, Configuration conf) throws IOException {
        HadoopInputFile file = HadoopInputFile.fromPath(path, conf);
        Map<String, String> meta;
        try (ParquetFileReader footer = ParquetFileReader.open(file)) {
            MessageType schema = footer.getFooter().getFileMetaData().getSchema();
            for (String column : new String[] {TokenShardSchema.DOCUMENT_ID, TokenShardSchema.TOKENS}) {
                if (!schema.containsField(column)) {
                    throw new IllegalArgumentException(path + ": not a tokenized shard: no column '" + column
                            + "' in schema " + schema);
                }
            }
            meta = footer.getFooter().getFileMetaData().getKeyValueMetaData();
        }
        ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), path).withConf(conf).build();
        return new TokenShardReader(reader, meta);
    }

    /** Key/value metadata from the file footer. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The next row, or null at the end. */
    public TokenRow next() throws IOException {
        Group g = reader.read();
        if (g == null) {
            return null;
        }
        long id = g.getLong(TokenShardSchema.DOCUMENT_ID, 0);
        Group list = g.getGroup(TokenShardSchema.TOKENS, 0);
        int n = list.getFieldRepetitionCount(0);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = list.getGroup(0, i).getInteger(0, 0);
        }
        String source = g.getFieldRepetitionCount(TokenShardSchema.SOURCE) > 0
                ? g.getString(TokenShardSchema.SOURCE, 0) : null;
        return new TokenRow(id, tokens, source);
    }

    @Override
    public void close() throws IOException {
        reader.close();
    }
}
