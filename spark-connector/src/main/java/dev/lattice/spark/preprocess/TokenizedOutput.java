package dev.lattice.spark.preprocess;

import dev.lattice.data.indexed.DatasetIndex;
import dev.lattice.data.indexed.IndexedDatasetOutput;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.spark.storage.HadoopStorage;
import dev.lattice.spark.storage.SerializableConfiguration;
import org.apache.spark.api.java.JavaRDD;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Writes tokenized records as Megatron indexed datasets and Parquet shards, and commits them so that an interrupted
 * job leaves nothing that looks complete.
 *
 * <ol>
 *   <li>count each partition's documents (the records are persisted, so tokenization runs once), which makes
 *       document ids global and identical to positions in the merged {@code .idx};</li>
 *   <li>each task writes a partial {@code .bin/.idx} and a shard per key under a staging directory;</li>
 *   <li>the driver moves the winning attempts' shards into place and writes {@code _SUCCESS} last, then merges the
 *       partial datasets in partition order into {@code <prefix>_<key>_document.bin/.idx} (index written last).</li>
 * </ol>
 */
public final class TokenizedOutput {

    /** What to write. */
    public record Settings(OutputLayout layout, TokenDType dtype, int vocabSize, boolean overwrite,
                           boolean writeShards, long rowGroupBytes, Map<String, String> shardMetadata) {
    }

    /** What was written. */
    public record Result(List<PartitionStats> partitions, long outputBytes, List<String> outputs) {

        public long documents() {
            return partitions.stream().mapToLong(PartitionStats::documents).sum();
        }
    }

    private final HadoopStorage storage;
    private final SerializableConfiguration conf;
    private final Settings settings;

    public TokenizedOutput(HadoopStorage storage, Settings settings) {
        this.storage = storage;
        this.conf = new SerializableConfiguration(storage.configuration());
        this.settings = settings;
    }

    /** Fails, before any work, if an output exists and overwriting was not asked for. */
    public void checkOutputsFree() throws IOException {
        if (settings.overwrite()) {
            return;
        }
        for (String path : settings.layout().finalPaths(settings.writeShards())) {
            if (storage.exists(path)) {
                throw new IllegalStateException("output " + path + " already exists; pass --overwrite to replace"
                        + " it");
            }
        }
    }

    /** Writes and commits {@code records}, which the caller has persisted. */
    public Result write(JavaRDD<TokenizedRecord> records, ProgressReporter progress) throws IOException {
        String[] keys = settings.layout().keys();
        int partitions = records.getNumPartitions();
        if (progress != null) {
            progress.phase("tokenize", partitions);
        }
        int keyCount = keys.length;
        List<PartitionStats> stats = new ArrayList<>(records
                .mapPartitionsWithIndex((Integer i, java.util.Iterator<TokenizedRecord> it) ->
                        List.of(PartitionStats.of(i, it, keyCount)).iterator(), false)
                .collect());
        stats.sort(Comparator.comparingInt(PartitionStats::partition));
        long[] offsets = new long[partitions];
        for (int p = 1; p < partitions; p++) {
            offsets[p] = offsets[p - 1] + stats.get(p - 1).documents();
        }
        String staging = settings.layout().prefix() + ".lattice-staging-" + UUID.randomUUID().toString()
                .substring(0, 8);
        try {
            if (progress != null) {
                progress.phase("write", partitions);
            }
            List<WrittenPartition> written = new ArrayList<>(records.mapPartitionsWithIndex(
                    new WritePartitions(conf, staging, keys, offsets, settings.dtype(), settings.vocabSize(),
                            settings.writeShards(), settings.rowGroupBytes(), settings.shardMetadata()), false)
                    .collect());
            written.sort(Comparator.comparingInt(WrittenPartition::partition));
            List<String> outputs = new ArrayList<>();
            long bytes = 0;
            for (int k = 0; k < keys.length; k++) {
                if (settings.writeShards()) {
                    bytes += commitShards(staging, k, written);
                    outputs.add(settings.layout().shardsDir(keys[k]));
                }
                bytes += mergeIndexed(k, written);
                outputs.add(settings.layout().datasetPrefix(keys[k]) + ".{bin,idx}");
            }
            return new Result(stats, bytes, outputs);
        } finally {
            storage.delete(staging);
        }
    }

    private long commitShards(String staging, int k, List<WrittenPartition> written) throws IOException {
        String key = settings.layout().keys()[k];
        String dir = storage.resolve(storage.resolve(staging, key), "shards");
        long bytes = 0;
        for (WrittenPartition w : written) {
            String target = storage.resolve(dir, String.format("part-%05d.parquet", w.partition()));
            storage.rename(w.shardFiles()[k], target);
            bytes += storage.length(target);
        }
        storage.mkdirs(dir);
        String finalDir = settings.layout().shardsDir(key);
        storage.delete(finalDir);
        storage.rename(dir, finalDir);
        try (OutputStream ok = storage.create(storage.resolve(finalDir, OutputLayout.SUCCESS), true)) {
            ok.write(new byte[0]);
        }
        return bytes;
    }

    private long mergeIndexed(int k, List<WrittenPartition> written) throws IOException {
        String prefix = settings.layout().datasetPrefix(settings.layout().keys()[k]);
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(storage, prefix, settings.dtype(),
                settings.vocabSize(), true)) {
            for (WrittenPartition w : written) {
                String idx = w.idxFiles()[k];
                String bin = w.binFiles()[k];
                DatasetIndex index;
                try (InputStream in = storage.open(idx)) {
                    index = DatasetIndex.read(in, storage.length(idx), idx, storage.length(bin));
                }
                try (InputStream in = storage.open(bin)) {
                    out.writer().addIndex(index, in, bin);
                }
            }
            DatasetIndex merged = out.commit();
            return merged.binBytes() + DatasetIndex.idxBytes(merged.sequenceCount(), merged.documentCount() + 1L);
        }
    }
}
