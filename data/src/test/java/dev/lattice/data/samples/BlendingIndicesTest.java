package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Spec worked example plus fixtures from a Python transcription of {@code build_blending_indices} /
 * {@code build_exhaustive_blending_indices} and Megatron's builder arithmetic:
 *
 * <pre>{@code
 * def normalize(w): w = np.array(w, dtype=np.float64); return (w / np.sum(w)).tolist()
 * w1 = normalize(raw)                                            # builder
 * tgt = [math.ceil(size * w) for w in w1]                        # blended size = sum(tgt)
 * buf = [int(math.ceil(math.ceil(size * w) * (1 + 0.005))) for w in w1]
 * di, dsi = build(normalize(w1), sum(tgt))                       # BlendedDataset normalizes again
 * checksums: sum(i * di[i]), sum(i * dsi[i]), np.bincount(di)
 * }</pre>
 */
class BlendingIndicesTest {

    @Test
    void specExampleFirstTen() {
        BlendingIndices b = BlendingIndices.build(BlendingIndices.normalize(new double[] {0.3, 0.7}), 10);
        assertArrayEquals(new short[] {1, 0, 1, 1, 0, 1, 1, 0, 1, 1}, b.datasetIndexArray());
        assertArrayEquals(new long[] {0, 0, 1, 2, 1, 3, 4, 2, 5, 6}, b.datasetSampleIndexArray());
    }

    @Test
    void tiesGoToTheLowestIndex() {
        BlendingIndices b = BlendingIndices.build(new double[] {0.5, 0.5}, 4);
        assertArrayEquals(new short[] {0, 1, 0, 1}, b.datasetIndexArray());
    }

    @Test
    void weightedBlendMatchesPythonReference() {
        double[] w = BlendingIndices.normalize(new double[] {2, 5, 3});
        assertArrayEquals(new double[] {0.2, 0.5, 0.3}, w);
        assertArrayEquals(new long[] {200, 500, 300}, BlendingIndices.targetSamples(w, 1000));
        assertArrayEquals(new long[] {201, 503, 302},
                BlendingIndices.bufferedSamples(w, 1000, BlendingIndices.DEFAULT_SURPLUS));
        BlendedDataset blend = BlendedDataset.forWeights(new double[] {2, 5, 3}, 1000, new long[] {201, 503, 302});
        BlendingIndices b = blend.indices();
        assertEquals(1000, blend.size());
        assertArrayEquals(new short[] {1, 2, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 2, 1, 0, 1, 2, 1},
                Arrays.copyOf(b.datasetIndexArray(), 20));
        assertChecksums(b, 549797, 126361650);
        assertArrayEquals(new long[] {200, 500, 300}, b.counts(3));

        // Nine datasets: enough for numpy's pairwise summation to matter in normalize.
        double[] raw = {0.1, 0.2, 0.3, 0.15, 0.05, 0.05, 0.05, 0.05, 0.05};
        double[] w9 = BlendingIndices.normalize(raw);
        assertArrayEquals(new long[] {78, 156, 234, 117, 39, 39, 39, 39, 39}, BlendingIndices.targetSamples(w9, 777));
        long[] buffered = BlendingIndices.bufferedSamples(w9, 777, 0.005);
        assertArrayEquals(new long[] {79, 157, 236, 118, 40, 40, 40, 40, 40}, buffered);
        BlendedDataset nine = BlendedDataset.forWeights(raw, 777, buffered);
        assertEquals(780, nine.size());
        assertArrayEquals(new short[] {2, 1, 3, 0, 4, 2, 5, 1, 6, 2, 3, 7, 8, 2, 1, 0, 2, 3, 1, 2},
                Arrays.copyOf(nine.indices().datasetIndexArray(), 20));
        assertChecksums(nine.indices(), 835642, 27529178);
    }

    @Test
    void exhaustiveBlendUsesEverySampleOnce() {
        BlendingIndices small = BlendingIndices.buildExhaustive(new long[] {3, 5, 2});
        assertArrayEquals(new short[] {1, 0, 2, 1, 0, 1, 2, 1, 0, 1}, small.datasetIndexArray());
        assertArrayEquals(new long[] {0, 0, 0, 1, 1, 2, 1, 3, 2, 4}, small.datasetSampleIndexArray());
        BlendingIndices big = BlendingIndices.buildExhaustive(new long[] {1000, 17, 250});
        assertEquals(1267, big.size());
        assertArrayEquals(new short[] {0, 2, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0},
                Arrays.copyOf(big.datasetIndexArray(), 20));
        assertChecksums(big, 326567, 448488182);
        assertArrayEquals(new long[] {1000, 17, 250}, big.counts(3));
        BlendedDataset all = BlendedDataset.forLengths(new long[] {3, 5, 2}, null);
        assertEquals(10, all.size());
        assertEquals(new BlendedDataset.Location(2, 1), all.locate(6));
    }

    @Test
    void unweightedBlendWithSizeWeighsByLength() {
        BlendedDataset b = BlendedDataset.forLengths(new long[] {40, 10}, 30L);
        assertArrayEquals(new short[] {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0,
            0, 1, 0, 0, 0}, b.indices().datasetIndexArray());
        assertEquals(50, BlendedDataset.forLengths(new long[] {40, 10}, 80L).size());
    }

    @Test
    void oversampledDatasetIsAClearError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> BlendedDataset.forWeights(new double[] {2, 5, 3}, 1000, new long[] {201, 499, 302}));
        assertTrue(e.getMessage().contains("dataset 1") && e.getMessage().contains("500")
                && e.getMessage().contains("499"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class,
                () -> BlendedDataset.forLengths(new long[] {3, 5, 2}, null).locate(10));
        assertThrows(IllegalArgumentException.class, () -> BlendingIndices.normalize(new double[] {0, 0}));
        assertThrows(IllegalArgumentException.class, () -> BlendingIndices.normalize(new double[] {1, -1}));
        assertThrows(IllegalArgumentException.class, () -> BlendingIndices.buildExhaustive(new long[] {3, 0}));
        assertThrows(IllegalArgumentException.class, () -> BlendingIndices.build(new double[0], 3));
    }

    private static void assertChecksums(BlendingIndices b, long datasetSum, long sampleSum) {
        long ds = 0;
        long ss = 0;
        for (int t = 0; t < b.size(); t++) {
            ds += (long) t * b.datasetIndex(t);
            ss += t * b.datasetSampleIndex(t);
        }
        assertEquals(datasetSum, ds);
        assertEquals(sampleSum, ss);
    }
}
