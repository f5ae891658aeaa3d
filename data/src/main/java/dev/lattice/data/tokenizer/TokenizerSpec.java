package dev.lattice.data.tokenizer;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A serializable description of a tokenizer that carries the {@code tokenizer.json} bytes themselves, so Spark
 * executors (and GPU hosts) build the same tokenizer without having the file. Each JVM builds one tokenizer per
 * spec and shares it between threads.
 */
public final class TokenizerSpec implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final Map<String, TextTokenizer> CACHE = new ConcurrentHashMap<>();

    private final String name;
    private final byte[] json;
    private final boolean addSpecialTokens;
    private final String eodToken;

    private TokenizerSpec(String name, byte[] json, boolean addSpecialTokens, String eodToken) {
        this.name = name;
        this.json = json;
        this.addSpecialTokens = addSpecialTokens;
        this.eodToken = eodToken;
    }

    /** The spec for {@code --tokenizer VALUE}: {@code gpt2} or a tokenizer.json path (read now, on this machine). */
    public static TokenizerSpec of(String value) {
        return of(value, true, null);
    }

    public static TokenizerSpec of(String value, boolean addSpecialTokens, String eodToken) {
        if (Tokenizers.isGpt2(value)) {
            return new TokenizerSpec("gpt2", null, false, null);
        }
        Path path = Tokenizers.resolveJson(value);
        try {
            TokenizerSpec spec = new TokenizerSpec(path.toString(), Files.readAllBytes(path), addSpecialTokens,
                    eodToken);
            spec.tokenizer(); // parse now, so a bad file fails on the driver with its name, not in a task
            return spec;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tokenizer file " + path + ": " + e.getMessage(), e);
        }
    }

    /** What the user named: "gpt2" or the tokenizer.json path. */
    public String name() {
        return name;
    }

    /** This JVM's shared tokenizer for the spec. */
    public TextTokenizer tokenizer() {
        if (json == null) {
            return CACHE.computeIfAbsent("gpt2", k -> new Gpt2BpeTokenizer());
        }
        String key = name + "|" + java.util.Arrays.hashCode(json) + "|" + addSpecialTokens + "|" + eodToken;
        return CACHE.computeIfAbsent(key,
                k -> HuggingFaceJsonTokenizer.fromJson(json, name, addSpecialTokens, eodToken));
    }
}
