package dev.lattice.data.parquet;

import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

/**
 * The shard schema. {@code tokens} uses Parquet's standard three-level LIST so Spark reads it as
 * {@code array<int>}:
 * <pre>
 * message lattice_tokens {
 *   required int64 document_id;
 *   required group tokens (LIST) { repeated group list { required int32 element; } }
 *   optional binary source (STRING);
 * }
 * </pre>
 */
public final class TokenShardSchema {

    public static final String DOCUMENT_ID = "document_id";
    public static final String TOKENS = "tokens";
    public static final String SOURCE = "source";

    public static final MessageType SCHEMA = Types.buildMessage()
            .required(PrimitiveTypeName.INT64).named(DOCUMENT_ID)
            .requiredGroup().as(LogicalTypeAnnotation.listType())
                .repeatedGroup().required(PrimitiveTypeName.INT32).named("element").named("list")
                .named(TOKENS)
            .optional(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named(SOURCE)
            .named("lattice_tokens");

    private TokenShardSchema() {
    }
}
