package dev.lattice.data.samples;

/**
 * How many passes over a split's tokens a GPT dataset needs, and whether the last pass is shuffled on its own
 * (Megatron's {@code _get_num_tokens_per_epoch}, {@code _get_num_epochs} and the separate-final-epoch rule).
 *
 * <p>The final epoch is kept apart when fewer than 80% of its samples are needed: shuffling a mostly-unused epoch in
 * with the others would let samples from it crowd out earlier epochs' samples in the part of the stream that is
 * actually trained on.
 *
 * @param tokensPerEpoch {@code T}, the sum of the split's sequence lengths
 * @param numEpochs {@code E >= 1}
 * @param separateFinalEpoch whether the last epoch's documents and samples are shuffled separately
 * @param samplesBeforeFinalEpoch {@code ((E-1)*T - X) // S} when separate, the count of samples shuffled together
 *     before the final epoch's; 0 when not separate (unused then)
 */
public record EpochPlan(long tokensPerEpoch, int numEpochs, boolean separateFinalEpoch, long samplesBeforeFinalEpoch) {

    /** Megatron's threshold: separate the final epoch if it contributes fewer than this share of an epoch's samples. */
    static final double SEPARATE_THRESHOLD = 0.80;

    /**
     * Plans epochs for {@code numSamples} samples of {@code seqLength} tokens (plus {@code addExtraToken}).
     *
     * @param numSamples null means "one epoch", as Megatron does when no sample count is requested
     */
    public static EpochPlan compute(long tokensPerEpoch, int seqLength, Long numSamples, int addExtraToken) {
        if (tokensPerEpoch <= 1) {
            // Megatron's helper asserts tokens_per_epoch > 1; with 0 tokens the epoch loop would never end.
            throw new IllegalArgumentException(
                    "the split holds " + tokensPerEpoch + " tokens; a GPT dataset needs at least 2");
        }
        if (seqLength <= 1) {
            throw new IllegalArgumentException("sequence length must be > 1, got " + seqLength);
        }
        if (addExtraToken != 0 && addExtraToken != 1) {
            throw new IllegalArgumentException("addExtraToken must be 0 or 1 (a boolean in Megatron), got " + addExtraToken);
        }
        if (numSamples != null && numSamples < 0) {
            throw new IllegalArgumentException("numSamples must be >= 0 or null, got " + numSamples);
        }
        int epochs = 1;
        if (numSamples != null) {
            // Smallest E >= 1 with E*T >= num_samples*S + X; the closed form equals Megatron's counting loop.
            long needed = Math.addExact(Math.multiplyExact(numSamples, (long) seqLength), addExtraToken);
            long e = Math.max(1L, (needed + tokensPerEpoch - 1) / tokensPerEpoch);
            if (e > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(numSamples + " samples of " + seqLength + " tokens need " + e
                        + " epochs of " + tokensPerEpoch + " tokens; Megatron's helpers take an int32 epoch count");
            }
            epochs = (int) e;
        }
        if (epochs == 1) {
            return new EpochPlan(tokensPerEpoch, 1, false, 0);
        }
        long sansFinal = ((epochs - 1) * tokensPerEpoch - addExtraToken) / seqLength;
        long fromFinal = numSamples - sansFinal;
        long perEpoch = (tokensPerEpoch - addExtraToken) / seqLength;
        // Python's int() truncates the float64 product toward zero; the product is never negative here.
        boolean separate = fromFinal < (long) (SEPARATE_THRESHOLD * perEpoch);
        return new EpochPlan(tokensPerEpoch, epochs, separate, separate ? sansFinal : 0);
    }
}
