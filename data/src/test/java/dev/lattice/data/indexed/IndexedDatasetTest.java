package dev.lattice.data.indexed;

import dev.lattice.data.storage.LocalStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IndexedDatasetTest {

    @TempDir
    Path tmp;

    /**
     * Three documents, the second empty, written by hand from megatron-formats.md §1.2: uint16 (code 8), S=2
     * sequences of lengths 3 and 2, D=4 document-index entries [0,1,1,2], pointers [0,6].
     */
    private static final String GOLDEN_IDX =
            "4d4d4944494458" + "0000"                 // magic
            + "0100000000000000"                      // version 1
            + "08"                                    // dtype uint16
            + "0200000000000000"                      // S = 2
            + "0400000000000000"                      // D = 4
            + "03000000" + "02000000"                 // sequence_lengths
            + "0000000000000000" + "0600000000000000" // sequence_pointers (bytes)
            + "0000000000000000" + "0100000000000000" + "0100000000000000" + "0200000000000000";
    private static final String GOLDEN_BIN = "0500" + "0600" + "0700" + "0800" + "0900";

    @Test
    void writerProducesTheSpecBytes() throws IOException {
        String prefix = tmp.resolve("golden").toString();
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, TokenDType.UINT16,
                0, false)) {
            out.writer().addDocument(new int[] {5, 6, 7});
            out.writer().addDocument(new int[0]);
            out.writer().addDocument(new int[] {8, 9});
            out.commit();
        }
        assertEquals(GOLDEN_IDX, HexFormat.of().formatHex(Files.readAllBytes(Path.of(prefix + ".idx"))));
        assertEquals(GOLDEN_BIN, HexFormat.of().formatHex(Files.readAllBytes(Path.of(prefix + ".bin"))));
        try (var files = Files.list(tmp)) {
            assertEquals(2, files.count(), "no temporary files are left behind");
        }
    }

    @Test
    void readerReadsTheSpecBytes() throws IOException {
        Path prefix = writeGolden();
        try (IndexedDataset ds = IndexedDataset.open(prefix)) {
            assertEquals(TokenDType.UINT16, ds.dtype());
            assertEquals(2, ds.sequenceCount());
            assertEquals(3, ds.documentCount());
            assertArrayEquals(new int[] {5, 6, 7}, ds.document(0));
            assertArrayEquals(new int[0], ds.document(1));
            assertArrayEquals(new int[] {8, 9}, ds.document(2));
            long[] part = new long[2];
            ds.read(0, 1, 2, part, 0);
            assertArrayEquals(new long[] {6, 7}, part);
            assertEquals(6, ds.sequencePointer(1));
            assertEquals(5, ds.tokenCount());
        }
    }

    @Test
    void roundTripsRandomDocumentsInBothDtypes() throws IOException {
        for (TokenDType dtype : new TokenDType[] {TokenDType.UINT16, TokenDType.INT32}) {
            int vocab = dtype == TokenDType.UINT16 ? 50257 : 128256;
            Random rnd = new Random(42);
            List<int[]> docs = new ArrayList<>();
            String prefix = tmp.resolve("rt-" + dtype).toString();
            try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, dtype, vocab,
                    false)) {
                for (int d = 0; d < 500; d++) {
                    int[] doc = rnd.ints(rnd.nextInt(300), 0, vocab).toArray();
                    docs.add(doc);
                    out.writer().addDocument(doc);
                }
                out.commit();
            }
            try (IndexedDataset ds = IndexedDataset.open(Path.of(prefix))) {
                assertEquals(dtype, ds.dtype());
                assertEquals(docs.size(), ds.documentCount());
                for (int d = 0; d < docs.size(); d++) {
                    assertArrayEquals(docs.get(d), ds.document(d), "document " + d);
                }
                ds.checkVocabulary(vocab);
            }
        }
    }

    @Test
    void sentenceLevelDocumentsKeepTheirSequences() throws IOException {
        String prefix = tmp.resolve("sent").toString();
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, TokenDType.UINT16,
                0, false)) {
            out.writer().addDocument(new int[] {1, 2, 3, 4, 5}, new int[] {2, 3});
            out.writer().addDocument(new int[] {6}, new int[] {1});
            out.commit();
        }
        try (IndexedDataset ds = IndexedDataset.open(Path.of(prefix))) {
            assertEquals(3, ds.sequenceCount());
            assertEquals(2, ds.documentCount());
            assertArrayEquals(new int[] {3, 4, 5}, ds.sequence(1));
            assertEquals(2, ds.documentIndex(1));
        }
    }

    @Test
    void mergingPartialDatasetsEqualsWritingOnce() throws IOException {
        Random rnd = new Random(7);
        List<int[]> docs = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            docs.add(rnd.ints(rnd.nextInt(20), 0, 1000).toArray());
        }
        docs.set(10, new int[0]); // an empty document inside a part
        String whole = tmp.resolve("whole").toString();
        writeAll(whole, docs);
        List<String> parts = new ArrayList<>();
        for (int p = 0; p < 3; p++) {
            String part = tmp.resolve("part" + p).toString();
            writeAll(part, docs.subList(p * 20, p * 20 + 20));
            parts.add(part);
        }
        String merged = tmp.resolve("merged").toString();
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, merged, TokenDType.UINT16,
                0, false)) {
            for (String part : parts) {
                DatasetIndex idx;
                Path idxPath = Path.of(part + ".idx");
                try (InputStream in = Files.newInputStream(idxPath)) {
                    idx = DatasetIndex.read(in, Files.size(idxPath), idxPath.toString(),
                            Files.size(Path.of(part + ".bin")));
                }
                try (InputStream bin = Files.newInputStream(Path.of(part + ".bin"))) {
                    out.writer().addIndex(idx, bin, part);
                }
            }
            out.commit();
        }
        assertArrayEquals(Files.readAllBytes(Path.of(whole + ".idx")), Files.readAllBytes(Path.of(merged + ".idx")));
        assertArrayEquals(Files.readAllBytes(Path.of(whole + ".bin")), Files.readAllBytes(Path.of(merged + ".bin")));
    }

    @Test
    void mergingDifferentDtypesIsRefused() throws IOException {
        DatasetIndex int32 = DatasetIndex.of(TokenDType.INT32, new int[] {1}, new long[] {0, 1});
        try (IndexedDatasetWriter w = new IndexedDatasetWriter(new ByteArrayOutputStream(), TokenDType.UINT16, 0,
                "target")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> w.addIndex(int32, new ByteArrayInputStream(new byte[4]), "other"));
            assertTrue(e.getMessage().contains("dtype INT32"), e.getMessage());
        }
    }

    @Test
    void tokenOutsideVocabularyOrDtypeIsNamed() throws IOException {
        try (IndexedDatasetWriter w = new IndexedDatasetWriter(new ByteArrayOutputStream(), TokenDType.UINT16, 100,
                "ds")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> w.addDocument(new int[] {1, 100}));
            assertTrue(e.getMessage().contains("token id 100") && e.getMessage().contains("[0, 100)"),
                    e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new IndexedDatasetWriter(new ByteArrayOutputStream(), TokenDType.UINT16, 128256, "llama"));
        assertTrue(e.getMessage().contains("does not fit dtype UINT16"), e.getMessage());
    }

    @Test
    void vocabularyCheckNamesDatasetAndId() throws IOException {
        Path prefix = writeGolden();
        try (IndexedDataset ds = IndexedDataset.open(prefix)) {
            InvalidDatasetException e = assertThrows(InvalidDatasetException.class, () -> ds.checkVocabulary(9));
            assertTrue(e.getMessage().contains("token id 9") && e.getMessage().contains(prefix.toString()),
                    e.getMessage());
        }
    }

    @Test
    void optimalDtypeFollowsMegatron() {
        assertEquals(TokenDType.UINT16, TokenDType.optimalFor(50257));
        assertEquals(TokenDType.UINT16, TokenDType.optimalFor(65499));
        assertEquals(TokenDType.INT32, TokenDType.optimalFor(65500));
        assertEquals(TokenDType.INT32, TokenDType.optimalFor(128256));
    }

    @Test
    void existingOutputIsNotOverwrittenUnlessAsked() throws IOException {
        Path prefix = writeGolden();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> IndexedDatasetOutput.create(
                LocalStorage.INSTANCE, prefix.toString(), TokenDType.UINT16, 0, false));
        assertTrue(e.getMessage().contains("--overwrite"), e.getMessage());
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix.toString(),
                TokenDType.UINT16, 0, true)) {
            out.writer().addDocument(new int[] {1});
            out.commit();
        }
        try (IndexedDataset ds = IndexedDataset.open(prefix)) {
            assertEquals(1, ds.documentCount());
        }
    }

    @Test
    void abandonedOutputLeavesNothingThatLooksComplete() throws IOException {
        String prefix = tmp.resolve("abandoned").toString();
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, TokenDType.UINT16,
                0, false)) {
            out.writer().addDocument(new int[] {1, 2});
            // no commit: as if the job failed here
        }
        assertFalse(Files.exists(Path.of(prefix + ".idx")));
        assertFalse(Files.exists(Path.of(prefix + ".bin")));
        try (var files = Files.list(tmp)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void corruptIndexesAreRejectedWithTheReason() throws IOException {
        byte[] good = HexFormat.of().parseHex(GOLDEN_IDX);
        assertCorrupt(java.util.Arrays.copyOf(good, 20), "truncated index");
        assertCorrupt(java.util.Arrays.copyOf(good, good.length - 3), "truncated");
        byte[] longer = java.util.Arrays.copyOf(good, good.length + 8);
        assertCorrupt(longer, "trailing bytes");
        byte[] magic = good.clone();
        magic[0] = 'X';
        assertCorrupt(magic, "magic");
        byte[] version = good.clone();
        version[9] = 2;
        assertCorrupt(version, "version 2");
        byte[] dtype = good.clone();
        dtype[17] = 42;
        assertCorrupt(dtype, "dtype code 42");
        byte[] docs = good.clone();
        docs[good.length - 8] = 5; // last document index 5 > S
        assertCorrupt(docs, "document_indices");
        byte[] pointer = good.clone();
        pointer[34 + 8 + 8] = 100; // second sequence pointer far past the .bin
        assertCorrupt(pointer, "ends past the end of the .bin");
    }

    @Test
    void truncatedBinIsRejected() throws IOException {
        Path prefix = writeGolden();
        Files.write(Path.of(prefix + ".bin"), HexFormat.of().parseHex(GOLDEN_BIN.substring(0, 12)));
        InvalidDatasetException e = assertThrows(InvalidDatasetException.class, () -> IndexedDataset.open(prefix));
        assertTrue(e.getMessage().contains("sequence 1") && e.getMessage().contains(".bin"), e.getMessage());
    }

    @Test
    void missingIndexExplainsAnIncompleteDataset() throws IOException {
        Path prefix = writeGolden();
        Files.delete(Path.of(prefix + ".idx"));
        InvalidDatasetException e = assertThrows(InvalidDatasetException.class, () -> IndexedDataset.open(prefix));
        assertTrue(e.getMessage().contains("not completely written"), e.getMessage());
    }

    @Test
    void streamReaderAppliesTheSameChecks() {
        byte[] good = HexFormat.of().parseHex(GOLDEN_IDX);
        InvalidDatasetException e = assertThrows(InvalidDatasetException.class, () -> DatasetIndex.read(
                new ByteArrayInputStream(good), good.length, "stream.idx", 4));
        assertTrue(e.getMessage().startsWith("stream.idx"), e.getMessage());
    }

    private void assertCorrupt(byte[] idx, String expected) throws IOException {
        Path prefix = tmp.resolve("corrupt");
        Files.write(Path.of(prefix + ".idx"), idx);
        Files.write(Path.of(prefix + ".bin"), HexFormat.of().parseHex(GOLDEN_BIN));
        InvalidDatasetException e = assertThrows(InvalidDatasetException.class, () -> IndexedDataset.open(prefix));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        assertTrue(e.getMessage().contains(prefix + ".idx"), e.getMessage());
    }

    private Path writeGolden() throws IOException {
        Path prefix = tmp.resolve("golden");
        Files.write(Path.of(prefix + ".idx"), HexFormat.of().parseHex(GOLDEN_IDX));
        Files.write(Path.of(prefix + ".bin"), HexFormat.of().parseHex(GOLDEN_BIN));
        return prefix;
    }

    private static void writeAll(String prefix, List<int[]> docs) throws IOException {
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, TokenDType.UINT16,
                0, false)) {
            for (int[] d : docs) {
                out.writer().addDocument(d);
            }
            out.commit();
        }
    }
}
