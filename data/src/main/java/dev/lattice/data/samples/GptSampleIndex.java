package dev.lattice.data.samples;

import java.util.Arrays;
import java.util.Objects;

/**
 * Megatron's GPTDataset indices for one split: the shuffled document index, the sample index that cuts the
 * concatenated documents into fixed-length samples, and the shuffle index over samples. Built with the exact
 * arithmetic and random-number consumption of Megatron-LM, so sample {@code i} here is token-for-token sample
 * {@code i} of a Megatron run with the same data, split, seed and sequence length.
 *
 * <p>Index arrays use Megatron's int32 layouts: the document index is int32, the sample index is int32 rows
 * {@code (position in document index, token offset)} stored flat as {@code [2*(n+1)]}, and the shuffle index holds
 * values below 2^31 (Megatron stores it as uint32). Megatron switches to int64 only beyond 2^31-1 document-index
 * entries or 2^32-2 samples, sizes a Java array cannot hold anyway.
 *
 * <p>Immutable and safe to share between threads; {@link #sample} only reads.
 */
public final class GptSampleIndex {

    /** Largest array Java reliably allocates. */
    static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    /**
     * What determines a GPT dataset's indices and samples.
     *
     * @param seqLength S, tokens per sample fed to the model ({@code --seq-length}), > 1
     * @param numSamples samples requested for this split, or null for exactly one epoch
     * @param seed {@code --seed} (Megatron's default is 1234), in {@code [0, 2^32-1]}
     * @param addExtraToken X, 1 when samples carry one extra token so labels are inputs shifted by one (Megatron's
     *     default), else 0
     * @param dropLast whether a final partial sample is dropped (Megatron: true for train and test, and for valid
     *     unless {@code drop_last_partial_validation_sequence} is off)
     * @param padId the id that fills a short final sample (tokenizer pad, or -1 when that collides with a special id)
     */
    public record Params(int seqLength, Long numSamples, long seed, int addExtraToken, boolean dropLast, long padId) {

        /** Megatron's defaults: one extra token, drop the last partial sample, pad id -1. */
        public static Params of(int seqLength, Long numSamples, long seed) {
            return new Params(seqLength, numSamples, seed, 1, true, -1);
        }

        /** The same parameters with another pad id. */
        public Params withPadId(long id) {
            return new Params(seqLength, numSamples, seed, addExtraToken, dropLast, id);
        }

        /** The same parameters with another drop-last setting. */
        public Params withDropLast(boolean drop) {
            return new Params(seqLength, numSamples, seed, addExtraToken, drop, padId);
        }

        /** The same parameters with another extra-token count (0 or 1). */
        public Params withAddExtraToken(int x) {
            return new Params(seqLength, numSamples, seed, x, dropLast, padId);
        }
    }

    private final Params params;
    private final int[] documentIndex;
    private final int[] sampleIndex;
    private final int[] shuffleIndex;

    private GptSampleIndex(Params params, int[] documentIndex, int[] sampleIndex, int[] shuffleIndex) {
        this.params = params;
        this.documentIndex = documentIndex;
        this.sampleIndex = sampleIndex;
        this.shuffleIndex = shuffleIndex;
    }

    /**
     * Builds the three indices for one split.
     *
     * @param source all sequences of the low-level dataset (lengths are looked up through it)
     * @param documents the split's sequence indices into {@code source}, in order (e.g. {@code [start, end)} of a
     *     {@link SplitSpec.Range})
     */
    public static GptSampleIndex build(TokenSequences source, int[] documents, Params params) {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(documents, "documents");
        Objects.requireNonNull(params, "params");
        int[] lengths = new int[source.sequenceCount()];
        for (int i = 0; i < lengths.length; i++) {
            lengths[i] = source.sequenceLength(i);
        }
        long tokensPerEpoch = 0;
        for (int d : documents) {
            if (d < 0 || d >= lengths.length) {
                throw new IllegalArgumentException(
                        "document " + d + " is not a sequence index of a dataset with " + lengths.length + " sequences");
            }
            tokensPerEpoch += lengths[d];
        }
        EpochPlan plan = EpochPlan.compute(tokensPerEpoch, params.seqLength(), params.numSamples(), params.addExtraToken());

        // One generator per (dataset, split), consumed in Megatron's order: document index, then shuffle index.
        NumpyRandomState rng = new NumpyRandomState(params.seed());
        int[] documentIndex = buildDocumentIndex(documents, plan, rng);
        int[] sampleIndex = buildSampleIndex(lengths, documentIndex, params, plan);
        int numSamples = sampleIndex.length / 2 - 1;
        int sansFinal = plan.separateFinalEpoch() ? (int) plan.samplesBeforeFinalEpoch() : numSamples;
        int[] shuffleIndex = buildShuffleIndex(sansFinal, numSamples, rng);
        return new GptSampleIndex(params, documentIndex, sampleIndex, shuffleIndex);
    }

    /**
     * Wraps indices loaded from a cache, checking that they fit together.
     *
     * @param sampleIndex the flat row-major {@code [n+1, 2]} sample index
     * @throws IllegalArgumentException when the shapes or values are inconsistent
     */
    public static GptSampleIndex fromArrays(Params params, int[] documentIndex, int[] sampleIndex, int[] shuffleIndex) {
        Objects.requireNonNull(params, "params");
        if (sampleIndex.length < 2 || sampleIndex.length % 2 != 0) {
            throw new IllegalArgumentException("sample index must have shape [n+1, 2], got " + sampleIndex.length
                    + " values");
        }
        int n = sampleIndex.length / 2 - 1;
        if (shuffleIndex.length != n) {
            throw new IllegalArgumentException("shuffle index has " + shuffleIndex.length
                    + " entries but the sample index describes " + n + " samples");
        }
        for (int i = 0; i <= n; i++) {
            int d = sampleIndex[2 * i];
            if (d < 0 || d >= documentIndex.length || sampleIndex[2 * i + 1] < 0) {
                throw new IllegalArgumentException("sample index row " + i + " = (" + d + ", "
                        + sampleIndex[2 * i + 1] + ") does not fit a document index of " + documentIndex.length);
            }
        }
        for (int i = 0; i < n; i++) {
            if (shuffleIndex[i] < 0 || shuffleIndex[i] >= n) {
                throw new IllegalArgumentException("shuffle index entry " + i + " = "
                        + Integer.toUnsignedString(shuffleIndex[i]) + " is not below " + n);
            }
        }
        return new GptSampleIndex(params, documentIndex.clone(), sampleIndex.clone(), shuffleIndex.clone());
    }

    /**
     * {@code _build_document_index}: the split's documents tiled once per epoch and shuffled as one array; with a
     * separate final epoch, the first E-1 epochs are shuffled together and then the last epoch alone.
     */
    static int[] buildDocumentIndex(int[] documents, EpochPlan plan, NumpyRandomState rng) {
        int epochs = plan.numEpochs();
        if ((long) epochs * documents.length > MAX_ARRAY) {
            throw new IllegalArgumentException(epochs + " epochs of " + documents.length
                    + " documents exceed the largest Java array");
        }
        if (!plan.separateFinalEpoch()) {
            return tiledAndShuffled(documents, epochs, rng);
        }
        int[] first = tiledAndShuffled(documents, epochs - 1, rng);
        int[] last = tiledAndShuffled(documents, 1, rng);
        int[] out = Arrays.copyOf(first, first.length + last.length);
        System.arraycopy(last, 0, out, first.length, last.length);
        return out;
    }

    private static int[] tiledAndShuffled(int[] documents, int epochs, NumpyRandomState rng) {
        int[] out = new int[epochs * documents.length];
        for (int e = 0; e < epochs; e++) {
            System.arraycopy(documents, 0, out, e * documents.length, documents.length);
        }
        rng.shuffle(out);
        return out;
    }

    /**
     * {@code helpers.cpp: build_sample_idx}. Row j is where sample j starts: (position in the document index, token
     * offset in that sequence). Each sample spans S+X tokens but the next one starts X tokens before this one ends,
     * so consecutive samples share X tokens (the last label of one sample is the first input of the next).
     */
    static int[] buildSampleIndex(int[] lengths, int[] documentIndex, Params params, EpochPlan plan) {
        int seqLength = params.seqLength();
        int extra = params.addExtraToken();
        long totalTokens = (long) plan.numEpochs() * plan.tokensPerEpoch() - extra;
        long numSamples;
        if (params.dropLast()) {
            numSamples = totalTokens / seqLength;
        } else {
            // The C++ helper divides in single precision: ceil(float(E*T - X) / S). Kept for bit-compatibility.
            numSamples = (long) Math.ceil((float) totalTokens / seqLength);
        }
        if (2 * (numSamples + 1) > MAX_ARRAY) {
            throw new IllegalArgumentException(numSamples + " samples exceed the largest Java array");
        }
        int[] out = new int[(int) (2 * (numSamples + 1))];
        int last = documentIndex.length - 1;
        int d = 0;
        int offset = 0;
        // Row 0 is (0, 0), already zero.
        for (int row = 1; row <= numSamples; row++) {
            int remaining = seqLength + extra;
            while (remaining != 0) {
                int available = lengths[documentIndex[d]] - offset;
                remaining -= available;
                if (remaining <= 0) {
                    // This sequence completes the sample; the next sample starts X tokens before its end.
                    offset += remaining + available - extra;
                    remaining = 0;
                } else if (d == last) {
                    // Out of tokens: only legal for the final partial sample when the last one is kept.
                    if (row != numSamples) {
                        throw new IllegalStateException("sample index ran out of documents at sample " + row + " of "
                                + numSamples + " (Megatron's helper asserts here)");
                    }
                    offset = lengths[documentIndex[d]] - extra;
                    break;
                } else {
                    d++;
                    offset = 0;
                }
            }
            out[2 * row] = d;
            out[2 * row + 1] = offset;
        }
        return out;
    }

    /**
     * {@code _build_shuffle_index}: a permutation of {@code [0, sansFinal)} followed by a permutation of
     * {@code [sansFinal, total)}, the second shuffle continuing the same generator. Without a separate final epoch
     * {@code sansFinal == total} and only one shuffle happens (the second is skipped entirely, consuming no draws).
     */
    static int[] buildShuffleIndex(int sansFinal, int total, NumpyRandomState rng) {
        int[] first = new int[sansFinal];
        for (int i = 0; i < sansFinal; i++) {
            first[i] = i;
        }
        rng.shuffle(first);
        if (sansFinal == total) {
            return first;
        }
        int[] second = new int[total - sansFinal];
        for (int i = 0; i < second.length; i++) {
            second[i] = sansFinal + i;
        }
        rng.shuffle(second);
        int[] out = Arrays.copyOf(first, total);
        System.arraycopy(second, 0, out, sansFinal, second.length);
        return out;
    }

    /** Number of samples, Megatron's {@code len(GPTDataset)}; at least the requested count when one was given. */
    public int size() {
        return shuffleIndex.length;
    }

    /** The parameters the indices were built with. */
    public Params params() {
        return params;
    }

    /** A copy of the document index (sequence indices, one entry per document per epoch). */
    public int[] documentIndex() {
        return documentIndex.clone();
    }

    /** A copy of the flat {@code [n+1, 2]} sample index. */
    public int[] sampleIndex() {
        return sampleIndex.clone();
    }

    /** A copy of the shuffle index (values in {@code [0, n)}). */
    public int[] shuffleIndex() {
        return shuffleIndex.clone();
    }

    int[] documentIndexArray() {
        return documentIndex;
    }

    int[] sampleIndexArray() {
        return sampleIndex;
    }

    int[] shuffleIndexArray() {
        return shuffleIndex;
    }

    /**
     * Sample {@code i} of the shuffled stream ({@code _query_document_sample_shuffle_indices} plus
     * {@code __getitem__}): S+X tokens cut from the documents, right-padded with the pad id when the final partial
     * sample is short, then split into inputs and labels. As in Megatron, every label equal to the pad id gets loss
     * mask 0, and tokens and labels equal to the pad id are replaced by 0 so the embedding can look them up.
     *
     * @param source the same sequences the index was built from
     */
    public GptSample sample(int i, TokenSequences source) {
        if (i < 0 || i >= shuffleIndex.length) {
            throw new IndexOutOfBoundsException("sample " + i + " of a GPT dataset with " + shuffleIndex.length
                    + " samples");
        }
        int seqLength = params.seqLength();
        int extra = params.addExtraToken();
        int j = shuffleIndex[i];
        int d0 = sampleIndex[2 * j];
        int o0 = sampleIndex[2 * j + 1];
        int d1 = sampleIndex[2 * j + 2];
        int o1 = sampleIndex[2 * j + 3];
        long[] text = new long[seqLength + extra];
        int filled;
        if (d0 == d1) {
            filled = o1 - o0 + extra;
            source.read(documentIndex[d0], o0, filled, text, 0);
        } else {
            filled = 0;
            for (int d = d0; d <= d1; d++) {
                int seq = documentIndex[d];
                int from = d == d0 ? o0 : 0;
                int to = d == d1 ? o1 + extra : source.sequenceLength(seq);
                source.read(seq, from, to - from, text, filled);
                filled += to - from;
            }
        }
        long pad = params.padId();
        Arrays.fill(text, filled, text.length, pad);

        long[] tokens = Arrays.copyOf(text, seqLength);
        long[] labels = new long[seqLength];
        if (extra == 1) {
            System.arraycopy(text, 1, labels, 0, seqLength);
        } else {
            // Without the extra token, labels are the inputs rolled left by one with the pad id at the end.
            System.arraycopy(text, 1, labels, 0, seqLength - 1);
            labels[seqLength - 1] = pad;
        }
        float[] lossMask = new float[seqLength];
        for (int k = 0; k < seqLength; k++) {
            lossMask[k] = labels[k] == pad ? 0f : 1f;
            if (labels[k] == pad) {
                labels[k] = 0;
            }
            if (tokens[k] == pad) {
                tokens[k] = 0;
            }
        }
        return new GptSample(tokens, labels, lossMask);
    }
}
