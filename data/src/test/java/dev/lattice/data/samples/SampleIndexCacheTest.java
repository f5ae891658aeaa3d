package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SampleIndexCacheTest {

    private static final int[] LENGTHS = {2, 4, 9, 10, 9, 19, 5, 6, 2, 4, 18, 2};
    private static final int[] DOCS = {2, 3, 4, 5, 6, 7, 8, 9, 10};
    private static final TokenSequences CORPUS = InMemoryTokenSequences.positional(LENGTHS);
    private static final GptSampleIndex.Params PARAMS = GptSampleIndex.Params.of(8, 24L, 1234);

    @TempDir
    Path tmp;

    private static GptDatasetDescription description() {
        return GptDatasetDescription.of("/data/corpus_text_document", Split.TRAIN, SplitSpec.parse("969,30,1"),
                PARAMS, PythonJsonTest.gpt2Tokenizer());
    }

    @Test
    void storesMegatronNamedFilesAndLoadsThemBack() throws IOException {
        SampleIndexCache cache = new SampleIndexCache(tmp.resolve("cache"));
        GptDatasetDescription d = description();
        assertEquals(Optional.empty(), cache.load(d, PARAMS));
        GptSampleIndex built = cache.loadOrBuild(d, CORPUS, DOCS, PARAMS);
        String base = d.md5Hex() + "-GPTDataset-train-";
        for (String suffix : List.of("description.txt", "document_index.npy", "sample_index.npy",
                "shuffle_index.npy")) {
            assertTrue(Files.isRegularFile(tmp.resolve("cache").resolve(base + suffix)), suffix);
        }
        assertEquals(d.toJson(), Files.readString(cache.file(d, "description.txt")));
        try (Stream<Path> files = Files.list(tmp.resolve("cache"))) {
            assertEquals(4, files.count(), "no temporary files are left behind");
        }
        GptSampleIndex loaded = cache.load(d, PARAMS).orElseThrow();
        assertArrayEquals(built.documentIndex(), loaded.documentIndex());
        assertArrayEquals(built.sampleIndex(), loaded.sampleIndex());
        assertArrayEquals(built.shuffleIndex(), loaded.shuffleIndex());
        for (int i = 0; i < built.size(); i++) {
            assertArrayEquals(built.sample(i, CORPUS).tokens(), loaded.sample(i, CORPUS).tokens());
        }
        assertEquals(NpyFiles.Dtype.INT32, NpyFiles.readHeader(cache.file(d, "document_index.npy")).dtype());
        assertEquals(NpyFiles.Dtype.UINT32, NpyFiles.readHeader(cache.file(d, "shuffle_index.npy")).dtype());
        assertArrayEquals(new long[] {31, 2}, NpyFiles.readHeader(cache.file(d, "sample_index.npy")).shape());
    }

    @Test
    void numpyReadsTheCacheAsMegatronWould() throws Exception {
        PythonNumpy.assumeAvailable();
        SampleIndexCache cache = new SampleIndexCache(tmp);
        GptDatasetDescription d = description();
        GptSampleIndex built = cache.loadOrBuild(d, CORPUS, DOCS, PARAMS);
        String out = PythonNumpy.check(String.join("\n",
                "import sys, hashlib, numpy as np",
                "base = sys.argv[1]",
                "t = open(base + '-description.txt').read()",
                "d = np.load(base + '-document_index.npy', mmap_mode='r')",
                "s = np.load(base + '-sample_index.npy', mmap_mode='r')",
                "h = np.load(base + '-shuffle_index.npy', mmap_mode='r')",
                "print(hashlib.md5(t.encode()).hexdigest(), d.dtype.str, s.dtype.str, s.shape, h.dtype.str,"
                        + " d.tolist() == list(map(int, sys.argv[2].split(','))),"
                        + " s.reshape(-1).tolist() == list(map(int, sys.argv[3].split(','))),"
                        + " h.tolist() == list(map(int, sys.argv[4].split(','))))"),
                tmp.resolve(d.baseName()).toString(), join(built.documentIndex()), join(built.sampleIndex()),
                join(built.shuffleIndex()));
        assertEquals(d.md5Hex() + " <i4 <i4 (31, 2) <u4 True True True", out);
    }

    private static String join(int[] a) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < a.length; i++) {
            sb.append(i > 0 ? "," : "").append(a[i]);
        }
        return sb.toString();
    }

    @Test
    void differingDescriptionIsAnErrorNamingFileAndLine() throws IOException {
        SampleIndexCache cache = new SampleIndexCache(tmp);
        GptDatasetDescription d = description();
        cache.loadOrBuild(d, CORPUS, DOCS, PARAMS);
        Path desc = cache.file(d, "description.txt");
        Files.writeString(desc, d.toJson().replace("\"random_seed\": 1234", "\"random_seed\": 4321"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cache.load(d, PARAMS));
        assertTrue(e.getMessage().contains(desc.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("does not match its description"), e.getMessage());
        assertTrue(e.getMessage().contains("line 6") && e.getMessage().contains("4321")
                && e.getMessage().contains("1234"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> cache.loadOrBuild(d, CORPUS, DOCS, PARAMS));
    }

    @Test
    void incompleteCacheIsAMissAndGetsRebuilt() throws IOException {
        SampleIndexCache cache = new SampleIndexCache(tmp);
        GptDatasetDescription d = description();
        GptSampleIndex built = cache.loadOrBuild(d, CORPUS, DOCS, PARAMS);
        Files.delete(cache.file(d, "shuffle_index.npy"));
        assertEquals(Optional.empty(), cache.load(d, PARAMS));
        GptSampleIndex rebuilt = cache.loadOrBuild(d, CORPUS, DOCS, PARAMS);
        assertArrayEquals(built.shuffleIndex(), rebuilt.shuffleIndex());
        assertTrue(Files.isRegularFile(cache.file(d, "shuffle_index.npy")));

        // Arrays without a description (a crash before the last step) never count as a hit.
        Files.delete(cache.file(d, "description.txt"));
        assertEquals(Optional.empty(), cache.load(d, PARAMS));
    }

    @Test
    void damagedArraysAreErrorsNamingTheFile() throws IOException {
        SampleIndexCache cache = new SampleIndexCache(tmp);
        GptDatasetDescription d = description();
        GptSampleIndex built = cache.loadOrBuild(d, CORPUS, DOCS, PARAMS);

        Path sample = cache.file(d, "sample_index.npy");
        byte[] bytes = Files.readAllBytes(sample);
        Files.write(sample, java.util.Arrays.copyOf(bytes, bytes.length - 4));
        IOException e = assertThrows(IOException.class, () -> cache.load(d, PARAMS));
        assertTrue(e.getMessage().contains(sample.toString()), e.getMessage());
        Files.write(sample, bytes);

        Path doc = cache.file(d, "document_index.npy");
        int[] di = built.documentIndex();
        long[] wide = new long[di.length];
        for (int i = 0; i < di.length; i++) {
            wide[i] = di[i];
        }
        NpyFiles.writeLongs(doc, wide, wide.length);
        e = assertThrows(IOException.class, () -> cache.load(d, PARAMS));
        assertTrue(e.getMessage().contains(doc.toString()) && e.getMessage().contains("<i8"), e.getMessage());
        NpyFiles.writeInts(doc, NpyFiles.Dtype.INT32, di, di.length);

        Path shuffle = cache.file(d, "shuffle_index.npy");
        NpyFiles.writeInts(shuffle, NpyFiles.Dtype.UINT32, new int[] {0, 1, 2}, 3);
        e = assertThrows(IOException.class, () -> cache.load(d, PARAMS));
        assertTrue(e.getMessage().contains(shuffle.toString()) && e.getMessage().contains("(30,)"), e.getMessage());
    }

    @Test
    void defaultDirectorySitsUnderTheDatasetPrefix() {
        assertEquals(Paths.get("/data/corpus_text_document/cache/GPTDataset_indices"),
                SampleIndexCache.besideDataset("/data/corpus_text_document").directory());
    }
}
