package dev.lattice.data.samples;

/**
 * One training sample as Megatron's {@code GPTDataset.__getitem__} returns it (without the attention mask and
 * position ids, which depend only on the sequence length unless EOD resets are enabled).
 *
 * <p>The arrays are owned by the caller once returned; nothing else keeps a reference to them.
 *
 * @param tokens model inputs, length S; padding positions hold 0
 * @param labels next-token targets, length S; padding positions hold 0
 * @param lossMask 1.0 where the label counts towards the loss, 0.0 where the label was padding
 */
public record GptSample(long[] tokens, long[] labels, float[] lossMask) {
}
