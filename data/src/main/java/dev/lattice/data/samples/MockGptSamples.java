package dev.lattice.data.samples;

import java.util.SplittableRandom;

/**
 * Megatron's {@code --mock-data}: samples of uniformly random token ids, for benchmarks and layout checks without a
 * dataset. Sample {@code i} is a pure function of (seed, i), so every rank and every run sees the same samples.
 */
public final class MockGptSamples implements SampleSource {

    private final int size;
    private final int seqLength;
    private final int vocab;
    private final long seed;

    public MockGptSamples(int size, int seqLength, int vocab, long seed) {
        if (size < 0 || seqLength <= 0 || vocab <= 0) {
            throw new IllegalArgumentException("mock data needs samples ≥ 0, a positive sequence length and"
                    + " vocabulary, got " + size + ", " + seqLength + ", " + vocab);
        }
        this.size = size;
        this.seqLength = seqLength;
        this.vocab = vocab;
        this.seed = seed;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public GptSample sample(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("mock sample " + i + " of " + size);
        }
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + i);
        long[] ids = new long[seqLength + 1];
        for (int t = 0; t < ids.length; t++) {
            ids[t] = r.nextInt(vocab);
        }
        long[] tokens = java.util.Arrays.copyOf(ids, seqLength);
        long[] labels = java.util.Arrays.copyOfRange(ids, 1, seqLength + 1);
        float[] mask = new float[seqLength];
        java.util.Arrays.fill(mask, 1f);
        return new GptSample(tokens, labels, mask);
    }
}
