package dev.lattice.data.samples;

import java.util.Arrays;

/**
 * Megatron's deterministic weighted interleave of several datasets (spec §3, {@code helpers.cpp:
 * build_blending_indices} and {@code build_exhaustive_blending_indices}). Blended sample {@code t} is sample
 * {@link #datasetSampleIndex(int) datasetSampleIndex(t)} of dataset {@link #datasetIndex(int) datasetIndex(t)}.
 *
 * <p>The greedy rule picks, for every position, the dataset lagging furthest behind its weight. No randomness is
 * involved, so the only way to match Megatron is to match its float64 arithmetic: weights are normalized with
 * {@link NumpyMath#normalize}, errors are computed in double exactly as in C++, and ties go to the lowest index.
 */
public final class BlendingIndices {

    /** Megatron's {@code mid_level_dataset_surplus} default: build each dataset 0.5% larger than its share. */
    public static final double DEFAULT_SURPLUS = 0.005;

    /** Megatron stores the dataset index as int16 and asserts fewer than 32767 datasets. */
    public static final int MAX_DATASETS = 32766;

    private final short[] datasetIndex;
    private final long[] datasetSampleIndex;

    private BlendingIndices(short[] datasetIndex, long[] datasetSampleIndex) {
        this.datasetIndex = datasetIndex;
        this.datasetSampleIndex = datasetSampleIndex;
    }

    /**
     * Megatron's {@code normalize}: float64 weights divided by their numpy sum.
     *
     * @throws IllegalArgumentException when a weight is negative or not finite, or all are zero
     */
    public static double[] normalize(double[] weights) {
        checkDatasetCount(weights.length);
        for (int i = 0; i < weights.length; i++) {
            if (!(weights[i] >= 0) || Double.isInfinite(weights[i])) {
                throw new IllegalArgumentException("blend weight " + i + " is " + weights[i]
                        + "; expected a finite non-negative number");
            }
        }
        if (NumpyMath.sum(weights) <= 0) {
            throw new IllegalArgumentException("blend weights " + Arrays.toString(weights) + " sum to 0");
        }
        return NumpyMath.normalize(weights);
    }

    /**
     * {@code build_blending_indices}: {@code size} positions, each given to the dataset maximizing
     * {@code w_i * max(t, 1) - count_i} (strictly greater wins, so ties go to the lowest index). Weights are used as
     * given; Megatron passes normalized weights.
     */
    public static BlendingIndices build(double[] weights, int size) {
        checkDatasetCount(weights.length);
        if (size < 0) {
            throw new IllegalArgumentException("blend size must be >= 0, got " + size);
        }
        short[] index = new short[size];
        long[] sampleIndex = new long[size];
        long[] counts = new long[weights.length];
        for (int t = 0; t < size; t++) {
            // max(t, 1): at t = 0 every error would be 0 and the tie would always go to dataset 0 regardless of weight.
            double tt = Math.max((double) t, 1.0);
            int best = 0;
            double bestError = weights[0] * tt - (double) counts[0];
            for (int i = 1; i < weights.length; i++) {
                double error = weights[i] * tt - (double) counts[i];
                if (error > bestError) {
                    bestError = error;
                    best = i;
                }
            }
            index[t] = (short) best;
            sampleIndex[t] = counts[best];
            counts[best]++;
        }
        return new BlendingIndices(index, sampleIndex);
    }

    /**
     * {@code build_exhaustive_blending_indices}: draws every sample of every dataset exactly once
     * ({@code sum(sizes)} positions), with weights {@code size_i / total} and the same greedy rule restricted to
     * datasets not yet used up.
     *
     * @throws IllegalArgumentException for an empty dataset (Megatron would index past its end) or a negative size
     */
    public static BlendingIndices buildExhaustive(long[] sizes) {
        checkDatasetCount(sizes.length);
        long total = 0;
        for (int i = 0; i < sizes.length; i++) {
            if (sizes[i] <= 0) {
                throw new IllegalArgumentException("dataset " + i + " has " + sizes[i]
                        + " samples; exhaustive blending needs every dataset to have at least one");
            }
            total = Math.addExact(total, sizes[i]);
        }
        if (total > GptSampleIndex.MAX_ARRAY) {
            throw new IllegalArgumentException(total + " blended samples exceed the largest Java array");
        }
        double[] weights = new double[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            weights[i] = sizes[i] / (double) total;
        }
        short[] index = new short[(int) total];
        long[] sampleIndex = new long[(int) total];
        long[] counts = new long[sizes.length];
        boolean[] spent = new boolean[sizes.length];
        for (int t = 0; t < total; t++) {
            double tt = Math.max((double) t, 1.0);
            int best = -1;
            double bestError = -Double.MAX_VALUE;
            for (int i = 0; i < sizes.length; i++) {
                if (spent[i]) {
                    continue;
                }
                double error = weights[i] * tt - (double) counts[i];
                if (error > bestError) {
                    bestError = error;
                    best = i;
                }
            }
            index[t] = (short) best;
            sampleIndex[t] = counts[best];
            counts[best]++;
            if (counts[best] == sizes[best]) {
                spent[best] = true;
            }
        }
        return new BlendingIndices(index, sampleIndex);
    }

    /**
     * Samples each dataset contributes to a blend of {@code size}: {@code ceil(size * w_i)} (float64 product). Their
     * sum is the blended dataset's size, at least {@code size}.
     */
    public static long[] targetSamples(double[] normalizedWeights, long size) {
        long[] out = new long[normalizedWeights.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (long) Math.ceil((double) size * normalizedWeights[i]);
        }
        return out;
    }

    /**
     * Samples each dataset is built with: {@code ceil(ceil(size * w_i) * (1 + surplus))}, the target plus a margin
     * so rounding never leaves a dataset a sample short.
     */
    public static long[] bufferedSamples(double[] normalizedWeights, long size, double surplus) {
        long[] target = targetSamples(normalizedWeights, size);
        long[] out = new long[target.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (long) Math.ceil((double) target[i] * (1 + surplus));
        }
        return out;
    }

    private static void checkDatasetCount(int n) {
        if (n == 0) {
            throw new IllegalArgumentException("a blend needs at least one dataset");
        }
        if (n > MAX_DATASETS) {
            throw new IllegalArgumentException(n + " datasets exceed Megatron's int16 dataset index (at most "
                    + MAX_DATASETS + ")");
        }
    }

    /** Number of blended samples. */
    public int size() {
        return datasetIndex.length;
    }

    /** Which dataset blended sample {@code t} comes from. */
    public int datasetIndex(int t) {
        return datasetIndex[t];
    }

    /** Which sample of that dataset blended sample {@code t} is. */
    public long datasetSampleIndex(int t) {
        return datasetSampleIndex[t];
    }

    /** A copy of the int16 dataset index, as Megatron caches it. */
    public short[] datasetIndexArray() {
        return datasetIndex.clone();
    }

    /** A copy of the int64 dataset sample index, as Megatron caches it. */
    public long[] datasetSampleIndexArray() {
        return datasetSampleIndex.clone();
    }

    /** How many samples each of {@code numDatasets} datasets is asked for. */
    public long[] counts(int numDatasets) {
        long[] counts = new long[numDatasets];
        for (short d : datasetIndex) {
            if (d >= numDatasets) {
                throw new IllegalArgumentException("the blend refers to dataset " + d + " but only " + numDatasets
                        + " datasets were given");
            }
            counts[d]++;
        }
        return counts;
    }
}
