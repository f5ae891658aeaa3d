package dev.lattice.data.samples;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds a split's samples from Megatron's {@code --data-path} / {@code --split} as its
 * {@code BlendedMegatronDatasetBuilder} does: one prefix gives that dataset's split; weighted prefixes give each
 * dataset {@code ceil(ceil(n·w)·1.005)} samples and blend them to {@code n}; unweighted prefixes give each dataset one
 * epoch, blended by their lengths.
 */
public final class GptDatasets {

    /** Opens the token data behind a prefix (an indexed dataset, usually). */
    @FunctionalInterface
    public interface Opener {
        TokenSequences open(String prefix) throws IOException;
    }

    private GptDatasets() {
    }

    /**
     * @param numSamples samples requested for this split (Megatron: train_iters × global batch), or null for one
     *                   epoch
     */
    public static SampleSource build(DataPathSpec paths, SplitSpec splitSpec, Split split, Long numSamples,
                                     int seqLength, long seed, Object tokenizer, Opener opener) throws IOException {
        List<String> prefixes = paths.prefixes();
        if (prefixes.size() == 1) {
            return single(prefixes.get(0), splitSpec, split, numSamples, seqLength, seed, tokenizer, opener);
        }
        List<GptDataset> parts = new ArrayList<>();
        long[] lengths = new long[prefixes.size()];
        if (paths.weighted() && numSamples != null) {
            double[] weights = BlendingIndices.normalize(paths.weightArray());
            long[] budgets = BlendingIndices.bufferedSamples(weights, numSamples, BlendingIndices.DEFAULT_SURPLUS);
            for (int i = 0; i < prefixes.size(); i++) {
                parts.add(single(prefixes.get(i), splitSpec, split, budgets[i], seqLength, seed, tokenizer, opener));
                lengths[i] = parts.get(i).size();
            }
            return new BlendedGptDataset(BlendedDataset.forWeights(paths.weightArray(), numSamples, lengths), parts);
        }
        for (int i = 0; i < prefixes.size(); i++) {
            parts.add(single(prefixes.get(i), splitSpec, split, null, seqLength, seed, tokenizer, opener));
            lengths[i] = parts.get(i).size();
        }
        return new BlendedGptDataset(BlendedDataset.forLengths(lengths, numSamples), parts);
    }

    private static GptDataset single(String prefix, SplitSpec splitSpec, Split split, Long numSamples,
                                     int seqLength, long seed, Object tokenizer, Opener opener) throws IOException {
        return GptDataset.build(opener.open(prefix), prefix, split, splitSpec,
                GptSampleIndex.Params.of(seqLength, numSamples, seed), tokenizer,
                SampleIndexCache.besideDataset(prefix));
    }
}
