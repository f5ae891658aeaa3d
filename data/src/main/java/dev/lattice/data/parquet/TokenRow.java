package dev.lattice.data.parquet;

/**
 * One row of a tokenized Parquet shard: a document's id (its position in the merged indexed dataset), its token
 * ids and, optionally, where it came from ({@code path:byteOffset} or {@code path#row}).
 */
public record TokenRow(long documentId, int[] tokens, String source) {
}
