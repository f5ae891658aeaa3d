package dev.lattice.data.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Builds a tokenizer from what a user types after {@code --tokenizer}. */
public final class Tokenizers {

    private Tokenizers() {
    }

    /**
     * {@code gpt2} (also Megatron's {@code GPT2BPETokenizer}) selects GPT-2 BPE; anything else is a path to a
     * HuggingFace {@code tokenizer.json} or to a directory holding one.
     */
    public static TextTokenizer load(String spec) {
        if (isGpt2(spec)) {
            return new Gpt2BpeTokenizer();
        }
        Path path = resolveJson(spec);
        try {
            return HuggingFaceJsonTokenizer.fromJson(Files.readAllBytes(path), path.toString(), true, null);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tokenizer file " + path + ": " + e.getMessage(), e);
        }
    }

    /** Whether {@code spec} names the built-in GPT-2 tokenizer rather than a file. */
    public static boolean isGpt2(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        return s.equals("gpt2") || s.equals("gpt2bpetokenizer") || s.equals("r50k_base");
    }

    /** The tokenizer.json that {@code spec} points at; errors say what was looked for. */
    public static Path resolveJson(String spec) {
        Path path = Path.of(spec);
        if (Files.isDirectory(path)) {
            path = path.resolve("tokenizer.json");
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("--tokenizer " + spec
                    + ": expected 'gpt2' or a HuggingFace tokenizer.json (or a directory holding one), but "
                    + path + " does not exist");
        }
        return path;
    }
}
