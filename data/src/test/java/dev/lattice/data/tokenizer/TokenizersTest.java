package dev.lattice.data.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizersTest {

    @TempDir
    Path tmp;

    @Test
    void gpt2IdsMatchTheReferenceTokenizer() {
        TextTokenizer gpt2 = Tokenizers.load("gpt2");
        // GPT-2's published ids (tiktoken / HuggingFace GPT2TokenizerFast).
        assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world"));
        assertArrayEquals(new int[] {464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13},
                gpt2.encode("The quick brown fox jumps over the lazy dog."));
        assertEquals(50257, gpt2.vocabSize());
        assertEquals(50256, gpt2.eodId());
        assertEquals("<|endoftext|>", gpt2.decode(new int[] {50256}));
    }

    @Test
    void gpt2TreatsSpecialTokenTextAsPlainText() {
        // As GPT-2's encoder and Megatron's GPT2BPETokenizer do: only --append-eod produces id 50256.
        assertArrayEquals(new int[] {27, 91, 437, 1659, 5239, 91, 29}, new Gpt2BpeTokenizer().encode("<|endoftext|>"));
    }

    @Test
    void gpt2RoundTripsUnicode() {
        TextTokenizer gpt2 = new Gpt2BpeTokenizer();
        String text = "naïve café — 東京 🚀\n\tend";
        assertEquals(text, gpt2.decode(gpt2.encode(text)));
    }

    @Test
    void huggingFaceJsonTokenizerEncodesWithItsVocabulary() throws IOException {
        Path json = copyFixture();
        try (TextTokenizer tok = Tokenizers.load(json.toString())) {
            assertArrayEquals(new int[] {2, 3, 5}, tok.encode("hello world!"));
            assertArrayEquals(new int[] {4, 0, 6}, tok.encode("lattice unknown spark"));
            assertEquals(7, tok.vocabSize());
            assertEquals(1, tok.eodId(), "</s> is the end-of-document token");
            assertTrue(tok.identifier().startsWith("HuggingFaceTokenizer:"));
        }
    }

    @Test
    void directoryWithTokenizerJsonIsAccepted() throws IOException {
        copyFixture();
        try (TextTokenizer tok = Tokenizers.load(tmp.toString())) {
            assertArrayEquals(new int[] {2}, tok.encode("hello"));
        }
    }

    @Test
    void longTextIsNotTruncated() throws IOException {
        try (TextTokenizer tok = Tokenizers.load(copyFixture().toString())) {
            String text = "hello world ".repeat(5000);
            assertEquals(10000, tok.encode(text).length);
        }
    }

    @Test
    void tokenizerFileThatDoesNotParseNamesTheFile() throws IOException {
        Path bad = tmp.resolve("tokenizer.json");
        Files.writeString(bad, "{\"model\": {\"vocab\": ");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tokenizers.load(bad.toString()));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("does not parse"), e.getMessage());
    }

    @Test
    void jsonThatIsNotATokenizerIsRejected() throws IOException {
        Path bad = tmp.resolve("other.json");
        Files.writeString(bad, "{\"name\": \"not a tokenizer\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tokenizers.load(bad.toString()));
        assertTrue(e.getMessage().contains("no \"model\""), e.getMessage());
    }

    @Test
    void missingTokenizerFileSaysWhatWasExpected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tokenizers.load(tmp.resolve("nope.json").toString()));
        assertTrue(e.getMessage().contains("expected 'gpt2' or a HuggingFace tokenizer.json"), e.getMessage());
    }

    @Test
    void unknownEodTokenIsNamed() throws IOException {
        byte[] json = Files.readAllBytes(copyFixture());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HuggingFaceJsonTokenizer.fromJson(json, "fixture", true, "<|eot|>"));
        assertTrue(e.getMessage().contains("<|eot|>"), e.getMessage());
    }

    private Path copyFixture() throws IOException {
        Path out = tmp.resolve("tokenizer.json");
        try (InputStream in = getClass().getResourceAsStream("wordlevel-tokenizer.json")) {
            Files.write(out, new String(in.readAllBytes(), StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8));
        }
        return out;
    }
}
