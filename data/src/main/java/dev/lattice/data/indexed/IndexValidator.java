package dev.lattice.data.indexed;

import java.util.function.IntToLongFunction;

/**
 * The consistency checks Megatron's reader asserts, and the pointer checks it leaves to luck: document boundaries
 * start at 0, never decrease and end at the sequence count; every sequence lies inside the {@code .bin}.
 * Shared by the in-memory and the memory-mapped readers.
 */
final class IndexValidator {

    private IndexValidator() {
    }

    interface IntAt {
        int at(int i);
    }

    static void validate(IntAt lengths, IntToLongFunction pointers, IntToLongFunction documents, int sequences,
                         int documentIndexLength, TokenDType dtype, String name, long binLength) {
        if (documents.applyAsLong(0) != 0) {
            throw new InvalidDatasetException(name + ": document_indices[0] is " + documents.applyAsLong(0)
                    + ", expected 0");
        }
        long previous = 0;
        for (int i = 1; i < documentIndexLength; i++) {
            long v = documents.applyAsLong(i);
            if (v < previous || v > sequences) {
                throw new InvalidDatasetException(name + ": document_indices[" + i + "] = " + v
                        + " is out of order or beyond the " + sequences + " sequences");
            }
            previous = v;
        }
        if (previous != sequences) {
            throw new InvalidDatasetException(name + ": the last document index is " + previous
                    + " but there are " + sequences + " sequences");
        }
        int item = dtype.itemSize();
        for (int i = 0; i < sequences; i++) {
            int len = lengths.at(i);
            long ptr = pointers.applyAsLong(i);
            if (len < 0) {
                throw new InvalidDatasetException(name + ": sequence " + i + " has negative length " + len);
            }
            if (ptr < 0 || ptr % item != 0) {
                throw new InvalidDatasetException(name + ": sequence " + i + " has invalid byte pointer " + ptr);
            }
            if (binLength >= 0 && ptr + (long) len * item > binLength) {
                throw new InvalidDatasetException(name + ": sequence " + i + " (" + len + " tokens at byte " + ptr
                        + ") ends past the end of the .bin file (" + binLength + " bytes): the .bin is truncated"
                        + " or does not belong to this index");
            }
        }
    }
}
