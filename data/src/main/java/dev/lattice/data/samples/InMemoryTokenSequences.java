package dev.lattice.data.samples;

import java.util.Objects;

/** {@link TokenSequences} over arrays held in memory; meant for tests and small synthetic corpora. */
public final class InMemoryTokenSequences implements TokenSequences {

    private final long[][] sequences;

    /** Wraps the given sequences (copied, so later changes to the arrays do not leak in). */
    public InMemoryTokenSequences(long[]... sequences) {
        this.sequences = new long[sequences.length][];
        for (int i = 0; i < sequences.length; i++) {
            this.sequences[i] = Objects.requireNonNull(sequences[i], "sequence " + i).clone();
        }
    }

    /**
     * Sequences of the given lengths whose tokens encode their position, {@code token = 1000 * sequence + offset}, so a
     * test can tell from a sample exactly which sequence and offset every token came from.
     */
    public static InMemoryTokenSequences positional(int... lengths) {
        long[][] seqs = new long[lengths.length][];
        for (int i = 0; i < lengths.length; i++) {
            seqs[i] = new long[lengths[i]];
            for (int k = 0; k < lengths[i]; k++) {
                seqs[i][k] = 1000L * i + k;
            }
        }
        return new InMemoryTokenSequences(seqs);
    }

    @Override
    public int sequenceCount() {
        return sequences.length;
    }

    @Override
    public int sequenceLength(int i) {
        return sequences[i].length;
    }

    @Override
    public void read(int sequence, int offset, int length, long[] dest, int destPos) {
        long[] seq = sequences[sequence];
        Objects.checkFromIndexSize(offset, length, seq.length);
        System.arraycopy(seq, offset, dest, destPos, length);
    }
}
