package dev.lattice.spark.preprocess;

import dev.lattice.data.indexed.DatasetIndex;
import dev.lattice.data.indexed.IndexedDatasetWriter;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.data.parquet.TokenRow;
import dev.lattice.data.parquet.TokenShardWriter;
import dev.lattice.spark.storage.HadoopStorage;
import dev.lattice.spark.storage.SerializableConfiguration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function2;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The write side: each task writes its partition's documents, per key, to a partial indexed dataset and a Parquet
 * shard under the staging directory, named by partition and task attempt so that retried or speculative attempts
 * never collide. Only the files of the attempt whose result reaches the driver are committed.
 */
final class WritePartitions implements Function2<Integer, Iterator<TokenizedRecord>, Iterator<WrittenPartition>> {

    private static final long serialVersionUID = 1L;

    private final SerializableConfiguration conf;
    private final String stagingDir;
    private final String[] keys;
    private final long[] documentOffsets;
    private final TokenDType dtype;
    private final int vocabSize;
    private final boolean writeShards;
    private final long rowGroupBytes;
    private final Map<String, String> shardMetadata;

    WritePartitions(SerializableConfiguration conf, String stagingDir, String[] keys, long[] documentOffsets,
                    TokenDType dtype, int vocabSize, boolean writeShards, long rowGroupBytes,
                    Map<String, String> shardMetadata) {
        this.conf = conf;
        this.stagingDir = stagingDir;
        this.keys = keys;
        this.documentOffsets = documentOffsets;
        this.dtype = dtype;
        this.vocabSize = vocabSize;
        this.writeShards = writeShards;
        this.rowGroupBytes = rowGroupBytes;
        this.shardMetadata = shardMetadata;
    }

    @Override
    public Iterator<WrittenPartition> call(Integer partition, Iterator<TokenizedRecord> records) throws IOException {
        TaskContext ctx = TaskContext.get();
        String attempt = String.format("part-%05d-a%d", partition, ctx == null ? 0 : ctx.taskAttemptId());
        HadoopStorage storage = new HadoopStorage(conf.get());
        int n = keys.length;
        String[] bins = new String[n];
        String[] idxs = new String[n];
        String[] shards = new String[n];
        IndexedDatasetWriter[] writers = new IndexedDatasetWriter[n];
        TokenShardWriter[] shardWriters = new TokenShardWriter[n];
        try {
            for (int k = 0; k < n; k++) {
                String dir = storage.resolve(storage.resolve(stagingDir, "attempts"), keys[k]);
                bins[k] = storage.resolve(dir, attempt + ".bin");
                idxs[k] = storage.resolve(dir, attempt + ".idx");
                writers[k] = new IndexedDatasetWriter(storage.create(bins[k], true), dtype, vocabSize,
                        "partition " + partition + " of key '" + keys[k] + "'");
                if (writeShards) {
                    shards[k] = storage.resolve(dir, attempt + ".parquet");
                    shardWriters[k] = TokenShardWriter.open(new Path(shards[k]), conf.get(), rowGroupBytes,
                            shardMetadata);
                }
            }
            long documentId = documentOffsets[partition];
            long documents = 0;
            while (records.hasNext()) {
                TokenizedRecord r = records.next();
                if (r.isSkipped()) {
                    continue;
                }
                for (int k = 0; k < n; k++) {
                    writers[k].addDocument(r.tokens()[k]);
                    if (writeShards) {
                        shardWriters[k].write(new TokenRow(documentId, r.tokens()[k], r.source()));
                    }
                }
                documentId++;
                documents++;
            }
            for (int k = 0; k < n; k++) {
                DatasetIndex index = writers[k].finish();
                try (OutputStream out = storage.create(idxs[k], true)) {
                    index.write(out);
                }
                if (writeShards) {
                    shardWriters[k].close();
                    shardWriters[k] = null;
                }
            }
            return List.of(new WrittenPartition(partition, bins, idxs, writeShards ? shards : null, documents))
                    .iterator();
        } finally {
            for (int k = 0; k < n; k++) {
                if (writers[k] != null) {
                    writers[k].close();
                }
                if (shardWriters[k] != null) {
                    shardWriters[k].close();
                }
            }
        }
    }
}
