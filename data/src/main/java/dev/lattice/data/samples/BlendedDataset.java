package dev.lattice.data.samples;

import java.util.Objects;

/**
 * Megatron's {@code BlendedDataset}: maps blended sample {@code t} to a (dataset, sample) pair through
 * {@link BlendingIndices}. Each dataset then applies its own shuffle index when the sample is fetched.
 *
 * <p>Construction checks every dataset can supply what the blend asks of it; Megatron raises the same error (an
 * under-sized mid-level dataset means the surplus was too small).
 */
public final class BlendedDataset {

    /**
     * Where a blended sample comes from.
     *
     * @param dataset index of the dataset in the blend
     * @param sample index of the sample within that dataset
     */
    public record Location(int dataset, long sample) {
    }

    private final BlendingIndices indices;
    private final long[] datasetLengths;

    /**
     * @param datasetLengths number of samples each dataset holds ({@code len(GPTDataset)})
     * @throws IllegalStateException naming the dataset and the numbers when one is asked for more samples than it has
     */
    public BlendedDataset(BlendingIndices indices, long[] datasetLengths) {
        this.indices = Objects.requireNonNull(indices, "indices");
        this.datasetLengths = datasetLengths.clone();
        long[] counts = indices.counts(datasetLengths.length);
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] > datasetLengths[i]) {
                throw new IllegalStateException("the blend asks dataset " + i + " for " + counts[i]
                        + " samples but it has only " + datasetLengths[i]
                        + "; build it with more samples (raise the mid-level dataset surplus)");
            }
        }
    }

    /**
     * A blend with client weights, as Megatron builds it for {@code --data-path w1 p1 w2 p2 ...} with a requested
     * size: the builder normalizes the weights and sizes the blend to {@code sum(ceil(size * w_i))}; the blended
     * dataset then normalizes them once more (Megatron does both) before the greedy build.
     *
     * @param rawWeights weights as given on the command line
     * @param requestedSize samples requested for this split
     * @param datasetLengths each dataset's length (built from {@link BlendingIndices#bufferedSamples})
     */
    public static BlendedDataset forWeights(double[] rawWeights, long requestedSize, long[] datasetLengths) {
        checkLengths(rawWeights.length, datasetLengths);
        double[] weights = BlendingIndices.normalize(rawWeights);
        long size = 0;
        for (long n : BlendingIndices.targetSamples(weights, requestedSize)) {
            size = Math.addExact(size, n);
        }
        if (size > GptSampleIndex.MAX_ARRAY) {
            throw new IllegalArgumentException(size + " blended samples exceed the largest Java array");
        }
        BlendingIndices indices = BlendingIndices.build(BlendingIndices.normalize(weights), (int) size);
        return new BlendedDataset(indices, datasetLengths);
    }

    /**
     * A blend without weights (odd-length {@code --data-path}): datasets weighted by their lengths. With a size, the
     * blend has {@code min(size, sum(lengths))} samples; with none, every sample of every dataset appears once.
     */
    public static BlendedDataset forLengths(long[] datasetLengths, Long requestedSize) {
        if (requestedSize == null) {
            return new BlendedDataset(BlendingIndices.buildExhaustive(datasetLengths), datasetLengths);
        }
        double[] weights = new double[datasetLengths.length];
        long total = 0;
        for (int i = 0; i < weights.length; i++) {
            weights[i] = datasetLengths[i];
            total = Math.addExact(total, datasetLengths[i]);
        }
        long size = Math.min(requestedSize, total);
        if (size > GptSampleIndex.MAX_ARRAY) {
            throw new IllegalArgumentException(size + " blended samples exceed the largest Java array");
        }
        return new BlendedDataset(BlendingIndices.build(BlendingIndices.normalize(weights), (int) size),
                datasetLengths);
    }

    private static void checkLengths(int datasets, long[] lengths) {
        if (lengths.length != datasets) {
            throw new IllegalArgumentException(datasets + " weights but " + lengths.length + " dataset lengths");
        }
    }

    /** Number of blended samples. */
    public int size() {
        return indices.size();
    }

    /** The underlying indices. */
    public BlendingIndices indices() {
        return indices;
    }

    /** Where blended sample {@code t} comes from. */
    public Location locate(int t) {
        if (t < 0 || t >= indices.size()) {
            throw new IndexOutOfBoundsException("blended sample " + t + " of " + indices.size());
        }
        return new Location(indices.datasetIndex(t), indices.datasetSampleIndex(t));
    }

    /** Number of datasets in the blend. */
    public int datasetCount() {
        return datasetLengths.length;
    }
}
