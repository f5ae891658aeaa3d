package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Checks the index build against a separate Python re-implementation of Megatron's GPTDataset algorithms run with
 * numpy 2.4.6's {@code RandomState} (the script is reproduced in condensed form below), and against the spec's
 * worked example.
 *
 * <pre>{@code
 * def build(lengths, documents, S, num_samples, seed, X=1, drop_last=True):
 *     lengths = np.array(lengths, np.int32); documents = np.array(documents, np.int32)
 *     T = int(np.sum(lengths[documents])); E = 1
 *     if num_samples is not None:
 *         tok = T
 *         while tok < num_samples * S + X: E += 1; tok += T
 *     separate = E > 1 and (num_samples - ((E-1)*T - X)//S) < int(0.80 * ((T - X)//S))
 *     rng = np.random.RandomState(seed)
 *     def doc_idx(epochs):
 *         d = np.mgrid[0:epochs, 0:len(documents)][1]; d[:] = documents
 *         d = d.reshape(-1).astype(np.int32); rng.shuffle(d); return d
 *     di = np.concatenate((doc_idx(E-1), doc_idx(1))) if separate else doc_idx(E)
 *     n = (E*T - X)//S if drop_last else math.ceil(float(np.float32(E*T - X) / np.float32(S)))
 *     rows = [(0, 0)]; d = 0; off = 0
 *     for _ in range(n):
 *         need = S + X
 *         while need != 0:
 *             avail = int(lengths[di[d]]) - off; need -= avail
 *             if need <= 0: off += need + avail - X; need = 0
 *             elif d == len(di) - 1: off = int(lengths[di[d]]) - X; break
 *             else: d += 1; off = 0
 *         rows.append((d, off))
 *     n_sans = ((E-1)*T - X)//S if separate else n
 *     a = np.arange(0, n_sans, dtype=np.uint32); rng.shuffle(a)
 *     if n_sans != n:
 *         b = np.arange(n_sans, n, dtype=np.uint32); rng.shuffle(b); a = np.concatenate((a, b))
 *     return di, np.array(rows, np.int32), a
 * # samples: positional corpus token(seq, k) = 1000*seq + k, cut and padded as in _query_document_sample_shuffle_indices,
 * # checksum = sum over samples i, positions k of (31*i + k) * (tokens[k] + 7*labels[k] + 13*loss_mask[k])
 * lengths = [int(x) for x in np.random.RandomState(99).randint(1, 21, size=12)]; docs = range(2, 11); S = 8
 * }</pre>
 */
class GptSampleIndexTest {

    /** {@code np.random.RandomState(99).randint(1, 21, size=12)}. */
    private static final int[] LENGTHS = {2, 4, 9, 10, 9, 19, 5, 6, 2, 4, 18, 2};
    private static final int[] DOCS = {2, 3, 4, 5, 6, 7, 8, 9, 10};
    private static final InMemoryTokenSequences CORPUS = InMemoryTokenSequences.positional(LENGTHS);

    @Test
    void specWorkedExampleSampleIndex() {
        int[] lengths = {5, 3, 7};
        GptSampleIndex.Params p = GptSampleIndex.Params.of(4, null, 0);
        EpochPlan plan = EpochPlan.compute(15, 4, null, 1);
        int[] rows = GptSampleIndex.buildSampleIndex(lengths, new int[] {0, 1, 2}, p, plan);
        assertArrayEquals(new int[] {0, 0, 0, 4, 2, 0, 2, 4}, rows);
    }

    @Test
    void specWorkedExampleSampleOneSpansThreeSequences() {
        // With one shuffle over [0, 3) we cannot pick the order, so read the unshuffled sample via the inverse.
        InMemoryTokenSequences src = InMemoryTokenSequences.positional(5, 3, 7);
        GptSampleIndex index = GptSampleIndex.fromArrays(GptSampleIndex.Params.of(4, null, 0), new int[] {0, 1, 2},
                new int[] {0, 0, 0, 4, 2, 0, 2, 4}, new int[] {1, 0, 2});
        GptSample s = index.sample(0, src);
        // 1 token of sequence 0, all 3 of sequence 1, 1 of sequence 2: 5 = S + X tokens.
        assertArrayEquals(new long[] {4, 1000, 1001, 1002}, s.tokens());
        assertArrayEquals(new long[] {1000, 1001, 1002, 2000}, s.labels());
        assertArrayEquals(new float[] {1, 1, 1, 1}, s.lossMask());
    }

    @Test
    void multiEpochIntermixedMatchesPythonReference() {
        GptSampleIndex index = GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, 29L, 1234));
        assertEquals(new EpochPlan(82, 3, false, 0), EpochPlan.compute(82, 8, 29L, 1));
        assertArrayEquals(new int[] {2, 9, 6, 5, 9, 4, 6, 3, 7, 7, 2, 10, 7, 8, 3, 9, 6, 4, 2, 10, 10, 4, 5, 5, 8, 3,
            8}, index.documentIndex());
        assertArrayEquals(new int[] {0, 0, 0, 8, 2, 3, 3, 6, 3, 14, 4, 3, 5, 7, 7, 1, 7, 9, 9, 1, 10, 3, 11, 2, 11,
            10, 12, 0, 14, 0, 14, 8, 16, 2, 17, 5, 18, 4, 19, 3, 19, 11, 20, 1, 20, 9, 20, 17, 21, 7, 22, 6, 22, 14,
            23, 3, 23, 11, 24, 0, 25, 6}, index.sampleIndex());
        assertArrayEquals(new int[] {17, 18, 8, 28, 23, 4, 5, 22, 13, 25, 14, 20, 10, 15, 19, 21, 1, 12, 29, 27, 16,
            24, 9, 0, 11, 7, 3, 26, 6, 2}, index.shuffleIndex());
        assertEquals(30, index.size());
        assertEquals(5036602412L, sampleChecksum(index));
        GptSample s3 = index.sample(3, CORPUS);
        assertArrayEquals(new long[] {5011, 5012, 5013, 5014, 5015, 5016, 5017, 5018}, s3.tokens());
        assertArrayEquals(new long[] {5012, 5013, 5014, 5015, 5016, 5017, 5018, 8000}, s3.labels());
    }

    @Test
    void separateFinalEpochMatchesPythonReference() {
        // 24 samples need 3 epochs but only 4 of the third epoch's 10 samples: below int(0.8 * 10) = 8.
        EpochPlan plan = EpochPlan.compute(82, 8, 24L, 1);
        assertEquals(new EpochPlan(82, 3, true, 20), plan);
        GptSampleIndex index = GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, 24L, 1234));
        assertArrayEquals(new int[] {4, 5, 10, 3, 6, 7, 2, 4, 9, 9, 3, 2, 10, 6, 5, 7, 8, 8, 9, 6, 3, 7, 5, 2, 4, 10,
            8}, index.documentIndex());
        assertArrayEquals(new int[] {0, 0, 0, 8, 1, 7, 1, 15, 2, 4, 2, 12, 3, 2, 4, 0, 5, 3, 6, 5, 7, 4, 8, 3, 10, 3,
            11, 1, 12, 0, 12, 8, 12, 16, 14, 1, 14, 9, 14, 17, 16, 0, 19, 0, 20, 3, 21, 1, 22, 3, 22, 11, 23, 0, 23,
            8, 24, 7, 25, 6, 25, 14}, index.sampleIndex());
        int[] shuffle = index.shuffleIndex();
        assertArrayEquals(new int[] {12, 5, 4, 8, 10, 19, 17, 14, 1, 13, 2, 18, 15, 16, 9, 0, 11, 7, 3, 6, 23, 22, 28,
            26, 20, 24, 25, 29, 21, 27}, shuffle);
        // The final epoch's samples are only shuffled among themselves and come last.
        for (int i = 0; i < 20; i++) {
            assertTrue(shuffle[i] < 20);
        }
        assertEquals(5004390603L, sampleChecksum(index));

        GptSampleIndex twoEpochs = GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, 13L, 5));
        assertArrayEquals(new int[] {4, 6, 10, 9, 3, 2, 7, 8, 5, 4, 5, 9, 7, 3, 6, 10, 8, 2},
                twoEpochs.documentIndex());
        assertArrayEquals(new int[] {0, 0, 0, 8, 2, 2, 2, 10, 3, 0, 4, 4, 5, 2, 6, 1, 8, 1, 8, 9, 8, 17, 9, 6, 10, 5,
            10, 13, 11, 2, 13, 0, 13, 8, 15, 1, 15, 9, 15, 17, 17, 5}, twoEpochs.sampleIndex());
        assertArrayEquals(new int[] {0, 3, 7, 8, 9, 2, 5, 6, 4, 1, 18, 14, 13, 16, 17, 15, 10, 12, 11, 19},
                twoEpochs.shuffleIndex());
        assertEquals(2179085783L, sampleChecksum(twoEpochs));
    }

    @Test
    void keptPartialSampleIsRightPaddedAndMasked() {
        GptSampleIndex index = GptSampleIndex.build(CORPUS, DOCS,
                GptSampleIndex.Params.of(8, null, 77).withDropLast(false));
        assertArrayEquals(new int[] {4, 7, 2, 3, 5, 8, 6, 10, 9}, index.documentIndex());
        assertArrayEquals(new int[] {0, 0, 0, 8, 2, 1, 3, 0, 3, 8, 4, 6, 4, 14, 6, 1, 7, 4, 7, 12, 8, 2, 8, 3},
                index.sampleIndex());
        assertArrayEquals(new int[] {1, 6, 2, 8, 10, 3, 4, 5, 7, 9, 0}, index.shuffleIndex());
        assertEquals(644708608L, sampleChecksum(index));
        // Sample 4 is the partial one (unshuffled sample 10): 2 real tokens then pad (-1, rewritten to 0).
        GptSample s = index.sample(4, CORPUS);
        assertArrayEquals(new long[] {9002, 9003, 0, 0, 0, 0, 0, 0}, s.tokens());
        assertArrayEquals(new long[] {9003, 0, 0, 0, 0, 0, 0, 0}, s.labels());
        assertArrayEquals(new float[] {1, 0, 0, 0, 0, 0, 0, 0}, s.lossMask());
    }

    @Test
    void withoutExtraTokenLabelsAreRolledAndLastLabelIsMasked() {
        GptSampleIndex index = GptSampleIndex.build(CORPUS, DOCS,
                GptSampleIndex.Params.of(8, 10L, 3).withAddExtraToken(0).withDropLast(false));
        assertArrayEquals(new int[] {8, 4, 9, 6, 7, 2, 5, 3, 10}, index.documentIndex());
        assertArrayEquals(new int[] {0, 0, 1, 6, 3, 1, 4, 4, 5, 6, 6, 5, 6, 13, 7, 2, 7, 10, 8, 8, 8, 16, 8, 18},
                index.sampleIndex());
        assertArrayEquals(new int[] {10, 2, 1, 8, 4, 0, 6, 7, 5, 9, 3}, index.shuffleIndex());
        assertEquals(533649848L, sampleChecksum(index));
        GptSample s = index.sample(0, CORPUS);
        assertArrayEquals(new long[] {10016, 10017, 0, 0, 0, 0, 0, 0}, s.tokens());
        assertArrayEquals(new long[] {10017, 0, 0, 0, 0, 0, 0, 0}, s.labels());
        assertArrayEquals(new float[] {1, 0, 0, 0, 0, 0, 0, 0}, s.lossMask());
        // A full sample's last label has nothing to predict without the extra token.
        GptSample full = index.sample(1, CORPUS);
        assertEquals(0f, full.lossMask()[7]);
        assertEquals(1f, full.lossMask()[6]);
    }

    @Test
    void largerCorpusMatchesPythonChecksumsWithAndWithoutSeparateFinalEpoch() {
        // lengths = np.random.RandomState(3).randint(1, 400, size=2000): legacy randint is 1 + random_interval(398).
        NumpyRandomState rs = new NumpyRandomState(3);
        int[] lengths = new int[2000];
        long total = 0;
        for (int i = 0; i < lengths.length; i++) {
            lengths[i] = 1 + (int) rs.randomInterval(398);
            total += lengths[i];
        }
        assertArrayEquals(new int[] {363, 153, 250, 132, 257}, Arrays.copyOf(lengths, 5));
        assertEquals(402411, total);
        TokenSequences src = lengthsOnly(lengths);
        int[] docs = new int[1800];
        for (int i = 0; i < docs.length; i++) {
            docs[i] = 100 + i;
        }
        // ns  T       E sep   n    len(di) sum(i*di)     sum(i*si)      sum(i*sh)     sh[:5]                      sh[-3:]
        // 6000 361577 3 True  8474 5400 14613632653 268354301959 186064769834 [3729, 3674, 5310, 1493, 521] [7849, 7826, 8408]
        // 3500 361577 2 True  5649 3600 6491104081  80694326566  56251207105  [1198, 1305, 534, 2271, 2513] [4051, 4490, 5282]
        // 8000 361577 3 False 8474 5400 14546630924 268659643555 152268671869 [2905, 6869, 564, 26, 6772] [5341, 7985, 2352]
        assertLarge(src, docs, 6000, true, 8474, 5400, 14613632653L, 268354301959L, 186064769834L,
                new int[] {3729, 3674, 5310, 1493, 521}, new int[] {7849, 7826, 8408});
        assertLarge(src, docs, 3500, true, 5649, 3600, 6491104081L, 80694326566L, 56251207105L,
                new int[] {1198, 1305, 534, 2271, 2513}, new int[] {4051, 4490, 5282});
        assertLarge(src, docs, 8000, false, 8474, 5400, 14546630924L, 268659643555L, 152268671869L,
                new int[] {2905, 6869, 564, 26, 6772}, new int[] {5341, 7985, 2352});
    }

    private static void assertLarge(TokenSequences src, int[] docs, long numSamples, boolean separate, int n,
            int docLen, long docSum, long sampleSum, long shuffleSum, int[] head, int[] tail) {
        GptSampleIndex index = GptSampleIndex.build(src, docs, GptSampleIndex.Params.of(128, numSamples, 1234));
        EpochPlan plan = EpochPlan.compute(361577, 128, numSamples, 1);
        assertEquals(separate, plan.separateFinalEpoch(), "num_samples " + numSamples);
        assertEquals(n, index.size());
        assertEquals(docLen, index.documentIndex().length);
        assertEquals(docSum, weightedSum(index.documentIndex()));
        assertEquals(sampleSum, weightedSum(index.sampleIndex()));
        assertEquals(shuffleSum, weightedSum(index.shuffleIndex()));
        int[] sh = index.shuffleIndex();
        assertArrayEquals(head, Arrays.copyOf(sh, 5));
        assertArrayEquals(tail, Arrays.copyOfRange(sh, sh.length - 3, sh.length));
    }

    @Test
    void unshuffledSamplesTileTheDocumentStreamOverlappingByOneToken() {
        GptSampleIndex index = GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, 29L, 1234));
        // The document stream: positional tokens of every document-index entry, concatenated.
        int[] di = index.documentIndex();
        long[] stream = new long[3 * 82];
        int k = 0;
        for (int seq : di) {
            for (int t = 0; t < LENGTHS[seq]; t++) {
                stream[k++] = 1000L * seq + t;
            }
        }
        int[] inverse = new int[index.size()];
        int[] sh = index.shuffleIndex();
        for (int i = 0; i < sh.length; i++) {
            inverse[sh[i]] = i;
        }
        GptSample previous = null;
        for (int j = 0; j < index.size(); j++) {
            GptSample s = index.sample(inverse[j], CORPUS);
            assertArrayEquals(Arrays.copyOfRange(stream, 8 * j, 8 * j + 8), s.tokens(), "sample " + j);
            assertArrayEquals(Arrays.copyOfRange(stream, 8 * j + 1, 8 * j + 9), s.labels(), "sample " + j);
            if (previous != null) {
                // The last label of one sample is the first input of the next: exactly one shared token.
                assertEquals(previous.labels()[7], s.tokens()[0], "sample " + j);
                assertFalse(previous.tokens()[7] == s.tokens()[0], "sample " + j);
            }
            previous = s;
        }
    }

    @Test
    void rejectsInputsMegatronWouldAssertOn() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.build(CORPUS, new int[] {2, 12}, GptSampleIndex.Params.of(8, null, 1)));
        assertTrue(e.getMessage().contains("12") && e.getMessage().contains("12 sequences"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.build(CORPUS, new int[0], GptSampleIndex.Params.of(8, null, 1)));
        assertTrue(e.getMessage().contains("0 tokens"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(1, null, 1)));
        assertTrue(e.getMessage().contains("sequence length"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, null, 1).withAddExtraToken(2)));
        assertTrue(e.getMessage().contains("addExtraToken"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, -1L, 1)));
        assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, null, -5)));
        GptSampleIndex index = GptSampleIndex.build(CORPUS, DOCS, GptSampleIndex.Params.of(8, null, 1));
        IndexOutOfBoundsException oob = assertThrows(IndexOutOfBoundsException.class,
                () -> index.sample(index.size(), CORPUS));
        assertTrue(oob.getMessage().contains(String.valueOf(index.size())), oob.getMessage());
    }

    @Test
    void fromArraysRejectsInconsistentIndices() {
        GptSampleIndex.Params p = GptSampleIndex.Params.of(4, null, 0);
        assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.fromArrays(p, new int[] {0, 1, 2}, new int[] {0, 0, 0, 4, 2}, new int[] {0, 1}));
        assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.fromArrays(p, new int[] {0, 1, 2}, new int[] {0, 0, 0, 4, 2, 0}, new int[] {0}));
        assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.fromArrays(p, new int[] {0, 1, 2}, new int[] {0, 0, 3, 4}, new int[] {0}));
        assertThrows(IllegalArgumentException.class,
                () -> GptSampleIndex.fromArrays(p, new int[] {0, 1, 2}, new int[] {0, 0, 0, 4}, new int[] {1}));
    }

    static long sampleChecksum(GptSampleIndex index) {
        long c = 0;
        for (int i = 0; i < index.size(); i++) {
            GptSample s = index.sample(i, CORPUS);
            for (int k = 0; k < s.tokens().length; k++) {
                c += (31L * i + k) * (s.tokens()[k] + 7 * s.labels()[k] + 13 * (long) s.lossMask()[k]);
            }
        }
        return c;
    }

    static long weightedSum(int[] a) {
        long s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (long) i * a[i];
        }
        return s;
    }

    /** A source that only knows lengths; index building never reads tokens. */
    static TokenSequences lengthsOnly(int[] lengths) {
        return new TokenSequences() {
            @Override
            public int sequenceCount() {
                return lengths.length;
            }

            @Override
            public int sequenceLength(int i) {
                return lengths[i];
            }

            @Override
            public void read(int sequence, int offset, int length, long[] dest, int destPos) {
                throw new UnsupportedOperationException("index building must not read tokens");
            }
        };
    }
}
