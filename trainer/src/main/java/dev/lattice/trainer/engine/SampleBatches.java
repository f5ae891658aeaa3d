package dev.lattice.trainer.engine;

import dev.lattice.data.samples.GptSample;
import dev.lattice.data.samples.SampleSource;
import dev.lattice.trainer.model.Batch;

/**
 * Turns a sample source into micro-batches in Megatron's order: the global sample stream from
 * {@code consumedSamples} on, micro-batch after micro-batch (one data-parallel rank here).
 */
public final class SampleBatches {

    private final SampleSource source;
    private final int microBatch;
    private final int seq;

    public SampleBatches(SampleSource source, int microBatch, int seq) {
        this.source = source;
        this.microBatch = microBatch;
        this.seq = seq;
    }

    public int size() {
        return source.size();
    }

    /** The micro-batch made of samples [start, start + microBatch). */
    public Batch batchAt(long start) {
        if (start + microBatch > source.size()) {
            throw new IllegalStateException("the dataset holds " + source.size() + " samples; samples " + start
                    + ".." + (start + microBatch - 1) + " were asked for");
        }
        int n = microBatch * seq;
        int[] tokens = new int[n];
        int[] targets = new int[n];
        float[] mask = new float[n];
        for (int b = 0; b < microBatch; b++) {
            GptSample s = source.sample(Math.toIntExact(start + b));
            if (s.tokens().length != seq) {
                throw new IllegalStateException("sample of " + s.tokens().length + " tokens, expected " + seq);
            }
            for (int t = 0; t < seq; t++) {
                tokens[b * seq + t] = Math.toIntExact(s.tokens()[t]);
                targets[b * seq + t] = Math.toIntExact(s.labels()[t]);
                mask[b * seq + t] = s.lossMask()[t];
            }
        }
        return new Batch(tokens, targets, mask, microBatch, seq);
    }
}
