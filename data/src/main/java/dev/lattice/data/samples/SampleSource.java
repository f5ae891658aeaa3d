package dev.lattice.data.samples;

/** Fixed-length training samples addressed by index: one dataset's split, or a blend of several. */
public interface SampleSource {

    /** Number of samples. */
    int size();

    /** Sample {@code i} (0 ≤ i &lt; size), already in shuffled order. */
    GptSample sample(int i);
}
