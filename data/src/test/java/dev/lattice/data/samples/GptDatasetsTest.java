package dev.lattice.data.samples;

import dev.lattice.data.indexed.IndexedDataset;
import dev.lattice.data.indexed.IndexedDatasetOutput;
import dev.lattice.data.indexed.TokenDType;
import dev.lattice.data.storage.LocalStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GPT samples over real indexed datasets written by this project's writer, cached beside the data. */
class GptDatasetsTest {

    @TempDir
    Path tmp;

    /** Token of dataset {@code ds}, document {@code d}, position {@code p}: lets a test say where a token came from. */
    private static int token(int ds, int d, int p) {
        return ds * 20000 + d * 100 + p;
    }

    private String writeDataset(String name, int ds, int documents) throws IOException {
        String prefix = tmp.resolve(name).toString();
        Random rnd = new Random(ds);
        try (IndexedDatasetOutput out = IndexedDatasetOutput.create(LocalStorage.INSTANCE, prefix, TokenDType.INT32,
                0, false)) {
            for (int d = 0; d < documents; d++) {
                int[] doc = new int[5 + rnd.nextInt(40)];
                for (int p = 0; p < doc.length; p++) {
                    doc[p] = token(ds, d, p);
                }
                out.writer().addDocument(doc);
            }
            out.commit();
        }
        return prefix;
    }

    private static GptDatasets.Opener opener() {
        return prefix -> IndexedDataset.open(Path.of(prefix));
    }

    @Test
    void trainSplitSamplesComeFromTrainDocumentsAndShiftByOne() throws IOException {
        String prefix = writeDataset("a", 0, 100);
        SampleSource train = GptDatasets.build(DataPathSpec.parse(List.of(prefix)), SplitSpec.parse("90,10,0"),
                Split.TRAIN, 200L, 16, 1234, "test-tokenizer", opener());
        assertTrue(train.size() >= 200, "at least the requested samples: " + train.size());
        for (int i = 0; i < train.size(); i++) {
            GptSample s = train.sample(i);
            assertEquals(16, s.tokens().length);
            for (int k = 0; k < 15; k++) {
                assertEquals(s.tokens()[k + 1], s.labels()[k], "labels are the next tokens");
            }
            for (long t : s.tokens()) {
                assertTrue(t / 100 < 90, "token " + t + " is from a train document (first 90 of 100)");
            }
        }
        SampleSource valid = GptDatasets.build(DataPathSpec.parse(List.of(prefix)), SplitSpec.parse("90,10,0"),
                Split.VALID, null, 16, 1234, "test-tokenizer", opener());
        for (int i = 0; i < valid.size(); i++) {
            for (long t : valid.sample(i).tokens()) {
                assertTrue(t / 100 >= 90, "token " + t + " is from a valid document");
            }
        }
    }

    @Test
    void indicesAreCachedBesideTheDataAndReused() throws IOException {
        String prefix = writeDataset("c", 0, 50);
        SampleSource first = GptDatasets.build(DataPathSpec.parse(List.of(prefix)), SplitSpec.parse("1"),
                Split.TRAIN, 100L, 8, 7, "tok", opener());
        Path cacheDir = Path.of(prefix, "cache", "GPTDataset_indices");
        List<Path> files;
        try (Stream<Path> s = Files.list(cacheDir)) {
            files = s.sorted().toList();
        }
        assertEquals(4, files.size(), "description + three .npy files: " + files);
        assertTrue(files.stream().allMatch(f -> f.getFileName().toString().matches("[0-9a-f]{32}-GPTDataset-train-.*")));
        for (Path f : files) {
            Files.setLastModifiedTime(f, FileTime.fromMillis(0));
        }
        SampleSource second = GptDatasets.build(DataPathSpec.parse(List.of(prefix)), SplitSpec.parse("1"),
                Split.TRAIN, 100L, 8, 7, "tok", opener());
        for (Path f : files) {
            assertEquals(0, Files.getLastModifiedTime(f).toMillis(), "cache hit leaves " + f + " untouched");
        }
        assertEquals(first.size(), second.size());
        for (int i = 0; i < first.size(); i++) {
            assertArrayEquals(first.sample(i).tokens(), second.sample(i).tokens());
        }
    }

    @Test
    void weightedBlendInterleavesAsMegatronDoes() throws IOException {
        String a = writeDataset("wa", 0, 60);
        String b = writeDataset("wb", 1, 60);
        BlendedGptDataset blend = (BlendedGptDataset) GptDatasets.build(
                DataPathSpec.parse(List.of("0.3", a, "0.7", b)), SplitSpec.parse("1"), Split.TRAIN, 40L, 8, 1,
                "tok", opener());
        int[] expected = {1, 0, 1, 1, 0, 1, 1, 0, 1, 1}; // megatron-formats.md §3 worked example
        for (int t = 0; t < expected.length; t++) {
            assertEquals(expected[t], blend.datasetOf(t), "sample " + t);
            long anyToken = blend.sample(t).tokens()[0];
            assertEquals(expected[t], anyToken / 20000, "sample " + t + " holds tokens of its dataset");
        }
        assertEquals(12 + 28, blend.size(), "ceil(40*0.3) + ceil(40*0.7)");
    }

    @Test
    void emptySplitIsNamed() throws IOException {
        String prefix = writeDataset("e", 0, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptDatasets.build(
                DataPathSpec.parse(List.of(prefix)), SplitSpec.parse("100,0,0"), Split.VALID, 10L, 8, 1, "tok",
                opener()));
        assertTrue(e.getMessage().contains("valid split"), e.getMessage());
    }
}
