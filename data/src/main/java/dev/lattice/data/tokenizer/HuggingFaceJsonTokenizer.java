package dev.lattice.data.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Any HuggingFace {@code tokenizer.json} through DJL's native tokenizers library (CPU flavour, offline).
 *
 * <p>DJL does not report the vocabulary size or the special tokens, so this class reads them from the JSON itself:
 * the vocabulary is one more than the largest id of the model's vocab and the added tokens.
 */
public final class HuggingFaceJsonTokenizer implements TextTokenizer {

    /** End-of-document tokens of the common model families, in the order they are tried. */
    private static final List<String> EOD_CANDIDATES =
            List.of("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eot_id|>", "<|im_end|>", "[SEP]");

    static {
        // A GPU host must never try to download the CUDA flavour of the native library (dependencies.md §2).
        OfflineNativeLibrary.forceCpuOffline();
    }

    private final HuggingFaceTokenizer tokenizer;
    private final boolean addSpecialTokens;
    private final int vocabSize;
    private final int eodId;
    private final String identifier;

    private HuggingFaceJsonTokenizer(HuggingFaceTokenizer tokenizer, boolean addSpecialTokens, int vocabSize,
                                     int eodId, String identifier) {
        this.tokenizer = tokenizer;
        this.addSpecialTokens = addSpecialTokens;
        this.vocabSize = vocabSize;
        this.eodId = eodId;
        this.identifier = identifier;
    }

    /**
     * Parses {@code json} (the contents of {@code source}, named in errors).
     *
     * @param addSpecialTokens whether encoding adds the tokenizer's template tokens (e.g. Llama's BOS), as
     *                         HuggingFace's {@code tokenizer(text)} does by default
     * @param eodToken the end-of-document token to use, or null to pick a known one from the added tokens
     */
    public static HuggingFaceJsonTokenizer fromJson(byte[] json, String source, boolean addSpecialTokens,
                                                    String eodToken) {
        JsonObject root;
        try {
            JsonElement parsed = JsonParser.parseString(new String(json, StandardCharsets.UTF_8));
            if (!parsed.isJsonObject()) {
                throw new IllegalArgumentException("tokenizer file " + source
                        + " is not a HuggingFace tokenizer.json: expected a JSON object at the top level");
            }
            root = parsed.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("tokenizer file " + source + " does not parse as JSON: "
                    + e.getMessage(), e);
        }
        if (!root.has("model") || !root.get("model").isJsonObject()) {
            throw new IllegalArgumentException("tokenizer file " + source
                    + " is not a HuggingFace tokenizer.json: it has no \"model\" object");
        }
        Map<String, Integer> special = addedTokens(root);
        int maxId = Math.max(maxModelId(root.getAsJsonObject("model"), source),
                special.values().stream().mapToInt(Integer::intValue).max().orElse(-1));
        int eod = resolveEod(special, eodToken, source);

        Map<String, String> options = new HashMap<>();
        options.put("addSpecialTokens", Boolean.toString(addSpecialTokens));
        options.put("truncation", "false");
        options.put("padding", "false");
        HuggingFaceTokenizer tok;
        try {
            tok = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), options);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("tokenizer file " + source
                    + " could not be loaded by the HuggingFace tokenizers library: " + e.getMessage(), e);
        }
        return new HuggingFaceJsonTokenizer(tok, addSpecialTokens, maxId + 1, eod,
                "HuggingFaceTokenizer:" + sha256(json).substring(0, 16));
    }

    private static Map<String, Integer> addedTokens(JsonObject root) {
        Map<String, Integer> tokens = new HashMap<>();
        JsonElement added = root.get("added_tokens");
        if (added != null && added.isJsonArray()) {
            for (JsonElement e : added.getAsJsonArray()) {
                JsonObject t = e.getAsJsonObject();
                tokens.put(t.get("content").getAsString(), t.get("id").getAsInt());
            }
        }
        return tokens;
    }

    private static int maxModelId(JsonObject model, String source) {
        JsonElement vocab = model.get("vocab");
        if (vocab == null) {
            throw new IllegalArgumentException("tokenizer file " + source + " has no model.vocab");
        }
        int max = -1;
        if (vocab.isJsonObject()) { // BPE, WordPiece, WordLevel: {"piece": id}
            for (Map.Entry<String, JsonElement> e : vocab.getAsJsonObject().entrySet()) {
                max = Math.max(max, e.getValue().getAsInt());
            }
        } else if (vocab.isJsonArray()) { // Unigram: [["piece", score], ...], ids are positions
            JsonArray arr = vocab.getAsJsonArray();
            max = arr.size() - 1;
        } else {
            throw new IllegalArgumentException("tokenizer file " + source
                    + " has a model.vocab that is neither an object nor an array");
        }
        return max;
    }

    private static int resolveEod(Map<String, Integer> special, String eodToken, String source) {
        if (eodToken != null) {
            Integer id = special.get(eodToken);
            if (id == null) {
                throw new IllegalArgumentException("tokenizer file " + source + " has no added token '" + eodToken
                        + "' to use as end-of-document; its added tokens are " + special.keySet());
            }
            return id;
        }
        for (String candidate : EOD_CANDIDATES) {
            Integer id = special.get(candidate);
            if (id != null) {
                return id;
            }
        }
        return -1;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        return tokenizer.decode(longs, false);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int eodId() {
        return eodId;
    }

    @Override
    public String identifier() {
        return identifier;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
