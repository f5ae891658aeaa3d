package dev.lattice.trainer.cli;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.data.parquet.TokenRow;
import dev.lattice.data.parquet.TokenShardWriter;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --data-path may name a directory of tokenized Parquet shards: training equals training on the indexed dataset. */
class ParquetShardTrainingTest {

    @TempDir
    Path tmp;

    /** Writes the documents of {@code prefix} into {@code shards} Parquet files under {@code dir}, in order. */
    private static void toShards(String prefix, Path dir, int shards, int badTokenAt) throws IOException {
        Files.createDirectories(dir);
        try (IndexedDataset ds = IndexedDataset.open(Path.of(prefix))) {
            int docs = ds.documentCount();
            int perShard = (docs + shards - 1) / shards;
            for (int s = 0; s < shards; s++) {
                org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(
                        dir.resolve(String.format("part-%05d.parquet", s)).toUri());
                try (TokenShardWriter w = TokenShardWriter.open(file, new Configuration(), 1 << 20, Map.of())) {
                    for (int d = s * perShard; d < Math.min(docs, (s + 1) * perShard); d++) {
                        int[] tokens = ds.document(d);
                        if (d == badTokenAt) {
                            tokens = tokens.clone();
                            tokens[0] = 1_000_000;
                        }
                        w.write(new TokenRow(d, tokens, null));
                    }
                }
            }
        }
    }

    @Test
    void parquetShardsTrainLikeTheIndexedDataset() throws Exception {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String prefix = TrainFixtures.corpus(tmp.resolve("data"), tok, 200, 5);
        Path shards = tmp.resolve("shards");
        toShards(prefix, shards, 3, -1);

        Path a = tmp.resolve("indexed");
        List<String> indexed = new ArrayList<>(TrainFixtures.baseArgs("gpt2", tok, prefix));
        indexed.addAll(List.of("--train-iters", "8", "--save", a.toString()));
        assertEquals(0, TrainFixtures.train(indexed).code());

        Path b = tmp.resolve("parquet");
        List<String> parquet = new ArrayList<>(TrainFixtures.baseArgs("gpt2", tok, shards.toString()));
        parquet.addAll(List.of("--train-iters", "8", "--save", b.toString()));
        TrainFixtures.Run run = TrainFixtures.train(parquet);
        assertEquals(0, run.code(), run.err());
        assertEquals(TrainFixtures.losses(a), TrainFixtures.losses(b), "same documents, same samples, same losses");
    }

    @Test
    void aTokenOutsideTheVocabularyNamesTheShardAndRow() throws Exception {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        String prefix = TrainFixtures.corpus(tmp.resolve("data"), tok, 40, 5);
        Path shards = tmp.resolve("shards");
        toShards(prefix, shards, 2, 25); // document 25 is row 5 of the second shard
        List<String> args = new ArrayList<>(TrainFixtures.baseArgs("gpt2", tok, shards.toString()));
        args.addAll(List.of("--train-iters", "2"));
        TrainFixtures.Run run = TrainFixtures.train(args);
        assertTrue(run.code() != 0, run.out());
        assertTrue(run.err().contains("part-00001.parquet, row 5 (document_id 25)"), run.err());
    }

    @Test
    void aDirectoryWithoutShardsOrIndexIsAClearError() throws Exception {
        Path tok = TrainFixtures.tokenizer(tmp.resolve("tok"));
        Path empty = Files.createDirectories(tmp.resolve("nothing"));
        List<String> args = new ArrayList<>(TrainFixtures.baseArgs("gpt2", tok, empty.toString()));
        args.addAll(List.of("--train-iters", "2"));
        TrainFixtures.Run run = TrainFixtures.train(args);
        assertTrue(run.code() != 0);
        assertTrue(run.err().contains("neither an indexed dataset"), run.err());
    }
}
