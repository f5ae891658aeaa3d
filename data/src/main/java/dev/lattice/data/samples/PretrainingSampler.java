package dev.lattice.data.samples;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Megatron's {@code MegatronPretrainingSampler} (spec §2.9): walks the global sample stream
 * {@code consumedSamples, consumedSamples + 1, ..., totalSamples - 1} in chunks of {@code microBatchSize *
 * dataParallelSize} and gives data-parallel rank r the slice {@code [r * mbs, (r + 1) * mbs)} of each chunk.
 *
 * <p>Because the stream is a plain range starting at {@code consumedSamples}, resuming from a checkpoint that
 * recorded {@code consumedSamples} continues exactly where the interrupted run stopped. The values are indices into
 * the (blended or GPT) dataset, which applies its own shuffle.
 *
 * <p>A final partial chunk is dropped when {@code dropLast}; otherwise each rank gets its slice of it, which, as with
 * Python slicing in Megatron, may be shorter than {@code mbs} or empty for higher ranks.
 */
public final class PretrainingSampler implements Iterable<long[]> {

    private final long totalSamples;
    private final long consumedSamples;
    private final int microBatchSize;
    private final int dataParallelRank;
    private final int dataParallelSize;
    private final boolean dropLast;

    /**
     * @throws IllegalArgumentException with Megatron's checks: no samples, nothing left to consume, a non-positive
     *     micro batch or data-parallel size, a rank outside {@code [0, dataParallelSize)}
     */
    public PretrainingSampler(long totalSamples, long consumedSamples, int microBatchSize, int dataParallelRank,
            int dataParallelSize, boolean dropLast) {
        if (totalSamples <= 0) {
            throw new IllegalArgumentException("no sample to consume: total samples is " + totalSamples);
        }
        if (consumedSamples < 0) {
            throw new IllegalArgumentException("consumed samples must be >= 0, got " + consumedSamples);
        }
        if (consumedSamples >= totalSamples) {
            throw new IllegalArgumentException("no samples left to consume: " + consumedSamples
                    + " consumed of " + totalSamples);
        }
        if (microBatchSize <= 0) {
            throw new IllegalArgumentException("micro batch size must be > 0, got " + microBatchSize);
        }
        if (dataParallelSize <= 0) {
            throw new IllegalArgumentException("data-parallel size must be > 0, got " + dataParallelSize);
        }
        if (dataParallelRank < 0 || dataParallelRank >= dataParallelSize) {
            throw new IllegalArgumentException("data-parallel rank " + dataParallelRank
                    + " is outside [0, " + dataParallelSize + ")");
        }
        this.totalSamples = totalSamples;
        this.consumedSamples = consumedSamples;
        this.microBatchSize = microBatchSize;
        this.dataParallelRank = dataParallelRank;
        this.dataParallelSize = dataParallelSize;
        this.dropLast = dropLast;
    }

    /**
     * Checks Megatron's assertion that a global batch splits into whole micro batches on every data-parallel rank.
     *
     * @throws IllegalArgumentException when {@code globalBatchSize % (microBatchSize * dataParallelSize) != 0}
     */
    public static void checkGlobalBatch(int globalBatchSize, int microBatchSize, int dataParallelSize) {
        long perStep = (long) microBatchSize * dataParallelSize;
        if (perStep <= 0 || globalBatchSize <= 0 || globalBatchSize % perStep != 0) {
            throw new IllegalArgumentException("global batch size " + globalBatchSize
                    + " is not divisible by micro batch size " + microBatchSize + " times data-parallel size "
                    + dataParallelSize);
        }
    }

    /** Megatron's {@code len(sampler)}: the total sample count, not the number of batches. */
    public long totalSamples() {
        return totalSamples;
    }

    @Override
    public Iterator<long[]> iterator() {
        long chunk = (long) microBatchSize * dataParallelSize;
        long offsetInChunk = (long) dataParallelRank * microBatchSize;
        return new Iterator<>() {
            private long chunkStart = consumedSamples;

            @Override
            public boolean hasNext() {
                long available = totalSamples - chunkStart;
                if (available >= chunk) {
                    return true;
                }
                return available > 0 && !dropLast;
            }

            @Override
            public long[] next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                long chunkEnd = Math.min(chunkStart + chunk, totalSamples);
                long from = Math.min(chunkStart + offsetInChunk, chunkEnd);
                long to = Math.min(from + microBatchSize, chunkEnd);
                long[] batch = new long[(int) (to - from)];
                for (int k = 0; k < batch.length; k++) {
                    batch[k] = from + k;
                }
                chunkStart += chunk;
                return batch;
            }
        };
    }
}
