package dev.lattice.data.parquet;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenShardTest {

    @TempDir
    java.nio.file.Path tmp;

    @Test
    void roundTripsRowsAndMetadata() throws IOException {
        Configuration conf = new Configuration();
        Path path = new Path(tmp.resolve("part-00000.parquet").toUri());
        Random rnd = new Random(3);
        List<TokenRow> rows = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            rows.add(new TokenRow(1000 + i, rnd.ints(rnd.nextInt(50), 0, 50257).toArray(),
                    i % 3 == 0 ? null : "file.jsonl:" + i));
        }
        rows.add(new TokenRow(9999, new int[0], "empty"));
        try (TokenShardWriter w = TokenShardWriter.open(path, conf, 1 << 16, Map.of("tokenizer", "gpt2"))) {
            for (TokenRow r : rows) {
                w.write(r);
            }
        }
        try (TokenShardReader r = TokenShardReader.open(path, conf)) {
            assertEquals("gpt2", r.metadata().get("tokenizer"));
            for (TokenRow expected : rows) {
                TokenRow got = r.next();
                assertEquals(expected.documentId(), got.documentId());
                assertArrayEquals(expected.tokens(), got.tokens());
                assertEquals(expected.source(), got.source());
            }
            assertNull(r.next());
        }
    }

    @Test
    void existingShardIsNotOverwritten() throws IOException {
        Configuration conf = new Configuration();
        Path path = new Path(tmp.resolve("s.parquet").toUri());
        try (TokenShardWriter w = TokenShardWriter.open(path, conf, 1 << 20, Map.of())) {
            w.write(new TokenRow(0, new int[] {1}, null));
        }
        assertThrows(IOException.class, () -> TokenShardWriter.open(path, conf, 1 << 20, Map.of()));
    }

    @Test
    void fileThatIsNotAShardIsRejected() throws IOException {
        java.nio.file.Path bogus = tmp.resolve("bogus.parquet");
        Files.writeString(bogus, "not parquet at all");
        Exception e = assertThrows(Exception.class,
                () -> TokenShardReader.open(new Path(bogus.toUri()), new Configuration()));
        assertTrue(e.getMessage().contains("bogus.parquet"), e.getMessage());
    }
}
