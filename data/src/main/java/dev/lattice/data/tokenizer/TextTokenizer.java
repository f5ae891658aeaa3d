package dev.lattice.data.tokenizer;

/**
 * Turns text into token ids and back. One interface for GPT-2 BPE and any HuggingFace {@code tokenizer.json},
 * so preprocessing, training and generation never care which one is in use.
 *
 * <p>Implementations are safe to call from several threads.
 */
public interface TextTokenizer extends AutoCloseable {

    /** Token ids of {@code text}, without the end-of-document token (callers append it when they want it). */
    int[] encode(String text);

    /**
     * Token ids of one document as Megatron's preprocessing makes them: with {@code appendEod}, the end-of-document
     * id is appended when the document has at least one token (an empty document stays empty).
     */
    default int[] encodeDocument(String text, boolean appendEod) {
        int[] ids = encode(text);
        if (!appendEod || ids.length == 0) {
            return ids;
        }
        if (eodId() < 0) {
            throw new IllegalStateException("tokenizer " + identifier() + " has no end-of-document token to append");
        }
        int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = eodId();
        return out;
    }

    /** The text for {@code ids}. */
    String decode(int[] ids);

    /** Number of ids this tokenizer can produce, including special tokens (not padded). */
    int vocabSize();

    /** The end-of-document id that {@code --append-eod} appends, or -1 when the tokenizer has none. */
    int eodId();

    /** A short, stable identifier of this tokenizer and its vocabulary, used in cache descriptions. */
    String identifier();

    @Override
    default void close() {
    }
}
