package dev.lattice.data.samples;

import java.io.IOException;

/**
 * One split of one indexed dataset as Megatron's {@code GPTDataset} serves it: the split's sequences, the
 * document/sample/shuffle indices (loaded from the cache beside the data, or built and cached), and samples of
 * {@code seq_length + 1} tokens in shuffled order.
 */
public final class GptDataset implements SampleSource {

    private final TokenSequences data;
    private final GptSampleIndex index;
    private final Split split;

    private GptDataset(TokenSequences data, GptSampleIndex index, Split split) {
        this.data = data;
        this.index = index;
        this.split = split;
    }

    /**
     * @param pathPrefix the dataset's prefix, as it appears in the cache description
     * @param tokenizer the tokenizer's identifiers for the description (e.g. its identifier string)
     * @param cache where the indices are cached; {@link SampleIndexCache#besideDataset} as Megatron does
     */
    public static GptDataset build(TokenSequences data, String pathPrefix, Split split, SplitSpec splitSpec,
                                   GptSampleIndex.Params params, Object tokenizer, SampleIndexCache cache)
            throws IOException {
        SplitSpec.Range range = splitSpec.range(split, data.sequenceCount());
        if (range == null || range.length() == 0) {
            throw new IllegalArgumentException(pathPrefix + ": the " + split.pythonName() + " split of --split "
                    + splitSpec.text() + " holds no sequences (the dataset has " + data.sequenceCount() + ")");
        }
        GptDatasetDescription description = GptDatasetDescription.of(pathPrefix, split, splitSpec, params, tokenizer);
        GptSampleIndex index = cache.loadOrBuild(description, data, range.indices(), params);
        return new GptDataset(data, index, split);
    }

    public Split split() {
        return split;
    }

    public GptSampleIndex index() {
        return index;
    }

    @Override
    public int size() {
        return index.size();
    }

    @Override
    public GptSample sample(int i) {
        return index.sample(i, data);
    }
}
