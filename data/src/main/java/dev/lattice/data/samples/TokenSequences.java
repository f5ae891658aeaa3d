package dev.lattice.data.samples;

/**
 * The token source GPT samples are cut from: a list of sequences (Megatron's "documents" for GPTDataset purposes),
 * each a run of token ids. An mmap indexed dataset ({@code .idx}/{@code .bin}) implements this elsewhere; tests use
 * {@link InMemoryTokenSequences}.
 *
 * <p>Implementations must be safe for concurrent reads when samples are fetched from several threads.
 */
public interface TokenSequences {

    /** Number of sequences. */
    int sequenceCount();

    /** Number of tokens in sequence {@code i}, {@code 0 <= i < sequenceCount()}. */
    int sequenceLength(int i);

    /**
     * Copies tokens {@code [offset, offset + length)} of {@code sequence} into {@code dest[destPos ..]}.
     *
     * @throws IndexOutOfBoundsException when the range lies outside the sequence or the destination
     */
    void read(int sequence, int offset, int length, long[] dest, int destPos);
}
