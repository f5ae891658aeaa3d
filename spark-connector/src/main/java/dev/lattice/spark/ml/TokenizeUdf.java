package dev.lattice.spark.ml;

import dev.lattice.data.tokenizer.TokenizerSpec;
import org.apache.spark.sql.api.java.UDF1;

/** The per-row function of {@link TextTokenizer}: text to token ids; null stays null. */
final class TokenizeUdf implements UDF1<String, int[]> {

    private static final long serialVersionUID = 1L;

    private final TokenizerSpec spec;
    private final boolean appendEod;

    TokenizeUdf(TokenizerSpec spec, boolean appendEod) {
        this.spec = spec;
        this.appendEod = appendEod;
    }

    @Override
    public int[] call(String text) {
        if (text == null) {
            return null;
        }
        return spec.tokenizer().encodeDocument(text, appendEod);
    }
}
