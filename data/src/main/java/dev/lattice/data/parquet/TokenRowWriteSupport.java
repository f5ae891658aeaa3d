package dev.lattice.data.parquet;

import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;

import java.util.Map;

/**
 * Writes {@link TokenRow}s straight into Parquet's record consumer; the generic Group API would allocate an object
 * per token, which dominates the cost of writing millions of tokens.
 */
final class TokenRowWriteSupport extends WriteSupport<TokenRow> {

    private final Map<String, String> metadata;
    private RecordConsumer consumer;

    TokenRowWriteSupport(Map<String, String> metadata) {
        this.metadata = metadata;
    }

    @Override
    public WriteContext init(Configuration configuration) {
        return new WriteContext(TokenShardSchema.SCHEMA, metadata);
    }

    @Override
    public void prepareForWrite(RecordConsumer recordConsumer) {
        this.consumer = recordConsumer;
    }

    @Override
    public void write(TokenRow row) {
        consumer.startMessage();
        consumer.startField(TokenShardSchema.DOCUMENT_ID, 0);
        consumer.addLong(row.documentId());
        consumer.endField(TokenShardSchema.DOCUMENT_ID, 0);

        consumer.startField(TokenShardSchema.TOKENS, 1);
        consumer.startGroup();
        int[] tokens = row.tokens();
        if (tokens.length > 0) {
            consumer.startField("list", 0);
            for (int t : tokens) {
                consumer.startGroup();
                consumer.startField("element", 0);
                consumer.addInteger(t);
                consumer.endField("element", 0);
                consumer.endGroup();
            }
            consumer.endField("list", 0);
        }
        consumer.endGroup();
        consumer.endField(TokenShardSchema.TOKENS, 1);

        if (row.source() != null) {
            consumer.startField(TokenShardSchema.SOURCE, 2);
            consumer.addBinary(Binary.fromString(row.source()));
            consumer.endField(TokenShardSchema.SOURCE, 2);
        }
        consumer.endMessage();
    }
}
