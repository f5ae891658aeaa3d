package dev.lattice.trainer.engine;

import dev.lattice.data.indexed.IndexedDatasetOutput;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.data.parquet.TokenRow;
import dev.lattice.data.parquet.TokenShardReader;
import dev.lattice.data.storage.LocalStorage;
import dev.lattice.data.storage.Storage;
import dev.lattice.data.storage.Storages;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Converts tokenized Parquet shards into a local indexed dataset (see {@link DataCache}). Each remote shard is
 * copied locally through the storage SPI (so hdfs/s3a use the job's Hadoop settings), local ones are read in place;
 * each is read with the data module's {@link TokenShardReader} and appended as documents. A manifest of shard names and sizes, written last, marks a
 * finished conversion: a later rank in the same JVM or host reuses it, a changed shard set converts again.
 */
final class ParquetShardCache {

    private ParquetShardCache() {
    }

    static String convert(String source, List<String> shards, int vocabSize, Path dir) throws IOException {
        Storage storage = Storages.forPath(shards.get(0));
        StringBuilder manifest = new StringBuilder(source).append('\n');
        for (String shard : shards) {
            manifest.append(shard).append('\t').append(storage.length(shard)).append('\n');
        }
        Files.createDirectories(dir);
        Path done = dir.resolve("parquet-manifest.txt");
        String prefix = dir.resolve("shards_text_document").toString();
        if (Files.exists(done) && Files.readString(done).contentEquals(manifest)) {
            return prefix;
        }
        Files.deleteIfExists(done);
        TokenDType dtype = TokenDType.optimalFor(vocabSize);
        Path local = dir.resolve("shard.parquet");
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, dtype, vocabSize,
                true)) {
            for (String shard : shards) {
                Path readable = DataCache.localPath(shard);
                if (readable == null) { // remote: copy through the storage SPI, which has the job's Hadoop settings
                    try (InputStream in = storage.open(shard)) {
                        Files.copy(in, local, StandardCopyOption.REPLACE_EXISTING);
                    }
                    readable = local;
                }
                try (TokenShardReader reader = TokenShardReader.open(
                        new org.apache.hadoop.fs.Path(readable.toUri()), new org.apache.hadoop.conf.Configuration())) {
                    long row = 0;
                    for (TokenRow r; (r = reader.next()) != null; row++) {
                        try {
                            out.writer().addDocument(r.tokens());
                        } catch (RuntimeException e) {
                            throw new IOException(shard + ", row " + row + " (document_id " + r.documentId() + "): "
                                    + e.getMessage(), e);
                        }
                    }
                } catch (IllegalArgumentException e) {
                    throw new IOException(shard + ": " + e.getMessage(), e);
                }
            }
            out.commit();
        } finally {
            Files.deleteIfExists(local);
        }
        Files.writeString(done, manifest, StandardCharsets.UTF_8);
        return prefix;
    }
}
