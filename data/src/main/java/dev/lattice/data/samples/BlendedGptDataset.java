package dev.lattice.data.samples;

import java.util.List;

/** Several sample sources interleaved by Megatron's deterministic blending indices. */
public final class BlendedGptDataset implements SampleSource {

    private final BlendedDataset blend;
    private final List<? extends SampleSource> parts;

    public BlendedGptDataset(BlendedDataset blend, List<? extends SampleSource> parts) {
        if (blend.datasetCount() != parts.size()) {
            throw new IllegalArgumentException("blend over " + blend.datasetCount() + " datasets but "
                    + parts.size() + " were given");
        }
        this.blend = blend;
        this.parts = parts;
    }

    @Override
    public int size() {
        return blend.size();
    }

    @Override
    public GptSample sample(int t) {
        BlendedDataset.Location at = blend.locate(t);
        return parts.get(at.dataset()).sample(Math.toIntExact(at.sample()));
    }

    /** Which dataset sample {@code t} comes from. */
    public int datasetOf(int t) {
        return blend.locate(t).dataset();
    }
}
