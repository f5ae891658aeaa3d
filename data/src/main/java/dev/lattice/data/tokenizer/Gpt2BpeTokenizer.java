package dev.lattice.data.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

/**
 * GPT-2's byte-level BPE through jtokkit's {@code r50k_base}, which holds exactly GPT-2's 50,256 merge ranks.
 * jtokkit refuses to encode special tokens, so {@code <|endoftext|>} (id 50256) is never produced by
 * {@link #encode}; preprocessing appends it itself, as Megatron's {@code --append-eod} does.
 */
public final class Gpt2BpeTokenizer implements TextTokenizer {

    public static final int VOCAB_SIZE = 50257;
    public static final int EOD_ID = 50256;

    /** Loading the ranks costs ~100 ms; the encoding is immutable and thread-safe, so share one. */
    private static final class Holder {
        static final Encoding ENCODING =
                Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    }

    @Override
    public int[] encode(String text) {
        // encodeOrdinary: "<|endoftext|>" inside the text is plain text, as in GPT-2's original encoder.
        return Holder.ENCODING.encodeOrdinary(text).toArray();
    }

    @Override
    public String decode(int[] ids) {
        IntArrayList list = new IntArrayList(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= VOCAB_SIZE) {
                throw new IllegalArgumentException("token id " + id + " is outside the GPT-2 vocabulary [0, "
                        + VOCAB_SIZE + ")");
            }
            list.add(id);
        }
        return Holder.ENCODING.decode(list);
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int eodId() {
        return EOD_ID;
    }

    @Override
    public String identifier() {
        return "GPT2BPETokenizer";
    }
}
