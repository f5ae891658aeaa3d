package dev.lattice.trainer.hf;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.lattice.trainer.io.DType;
import dev.lattice.trainer.io.Safetensors;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ModelConfig.Family;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * HuggingFace {@code config.json} ⇄ {@link ModelConfig} for {@code GPT2LMHeadModel} ({@code model_type: gpt2}) and
 * {@code LlamaForCausalLM} ({@code model_type: llama}).
 *
 * <p>Reading requires the size keys and rejects any value that would change the architecture away from what Lattice
 * implements, with an {@link IllegalArgumentException} naming the key and the value. The padded vocabulary is
 * {@code ModelConfig.padVocab(vocab_size, 128)} unless another divisor is passed.
 *
 * <p>GPT-2: {@code n_embd, n_layer, n_head, n_positions, vocab_size} required; {@code layer_norm_epsilon} defaults to
 * 1e-5, {@code n_inner} null or absent ⇒ 4·n_embd, {@code activation_function} (default gelu_new) must be
 * {@code gelu_new} or {@code gelu_pytorch_tanh}, {@code tie_word_embeddings} defaults to true,
 * {@code scale_attn_weights} must be true, {@code scale_attn_by_inverse_layer_idx} and {@code add_cross_attention}
 * false.
 *
 * <p>Llama: {@code hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, vocab_size,
 * max_position_embeddings} required; {@code num_key_value_heads} defaults to the heads, {@code rms_norm_eps} to 1e-6
 * (transformers' default), {@code rope_theta} to 10000 (also read from transformers 5's {@code rope_parameters}),
 * {@code tie_word_embeddings} to false; {@code attention_bias}/{@code mlp_bias} must be false, {@code rope_scaling}
 * null (or rope_type default), {@code hidden_act} silu, {@code head_dim} (if present) hidden/heads.
 */
public final class HfModelConfig {

    private HfModelConfig() {
    }

    /** Reads {@code config.json} with the default vocabulary divisor 128. */
    public static ModelConfig read(Path configJson) throws IOException {
        return read(configJson, ModelConfig.VOCAB_DIVISOR);
    }

    /** Reads {@code config.json}; the padded vocabulary is a multiple of {@code vocabDivisor}. */
    public static ModelConfig read(Path configJson, int vocabDivisor) throws IOException {
        String text = Files.readString(configJson, StandardCharsets.UTF_8);
        try {
            return fromJson(text, vocabDivisor);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
        }
    }

    /** Parses config.json text with the default vocabulary divisor 128. */
    public static ModelConfig fromJson(String json) {
        return fromJson(json, ModelConfig.VOCAB_DIVISOR);
    }

    /** Parses config.json text. */
    public static ModelConfig fromJson(String json, int vocabDivisor) {
        JsonElement e;
        try {
            e = JsonParser.parseString(json);
        } catch (JsonParseException ex) {
            throw new IllegalArgumentException("config.json is not valid JSON: " + ex.getMessage(), ex);
        }
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException("config.json is not a JSON object");
        }
        return fromJson(e.getAsJsonObject(), vocabDivisor);
    }

    /** Converts a parsed config.json. */
    public static ModelConfig fromJson(JsonObject o, int vocabDivisor) {
        if (vocabDivisor <= 0) {
            throw new IllegalArgumentException("vocabulary divisor must be positive, got " + vocabDivisor);
        }
        JsonElement mt = o.get("model_type");
        if (mt == null || mt.isJsonNull()) {
            throw new IllegalArgumentException("config.json has no model_type (expected gpt2 or llama)");
        }
        String type = mt.isJsonPrimitive() ? mt.getAsString() : mt.toString();
        return switch (type) {
            case "gpt2" -> gpt2(o, vocabDivisor);
            case "llama" -> llama(o, vocabDivisor);
            default -> throw unsupported("model_type", mt, "gpt2 or llama");
        };
    }

    private static ModelConfig gpt2(JsonObject o, int divisor) {
        int h = requiredInt(o, "n_embd");
        int layers = requiredInt(o, "n_layer");
        int heads = requiredInt(o, "n_head");
        int positions = requiredInt(o, "n_positions");
        int vocab = requiredInt(o, "vocab_size");
        float eps = optionalFloat(o, "layer_norm_epsilon", 1e-5f);
        Integer inner = optionalInt(o, "n_inner");
        int ffn = inner == null ? 4 * h : inner;
        String act = optionalString(o, "activation_function", "gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw unsupported("activation_function", o.get("activation_function"),
                    "gelu_new or gelu_pytorch_tanh");
        }
        boolean tied = optionalBoolean(o, "tie_word_embeddings", true);
        requireBoolean(o, "scale_attn_weights", true);
        requireBoolean(o, "scale_attn_by_inverse_layer_idx", false);
        requireBoolean(o, "add_cross_attention", false);
        return new ModelConfig(Family.GPT2, h, layers, heads, heads, ffn, vocab, ModelConfig.padVocab(vocab, divisor),
                positions, eps, 10000f, tied, true);
    }

    private static ModelConfig llama(JsonObject o, int divisor) {
        int h = requiredInt(o, "hidden_size");
        int layers = requiredInt(o, "num_hidden_layers");
        int heads = requiredInt(o, "num_attention_heads");
        Integer kv = optionalInt(o, "num_key_value_heads");
        int groups = kv == null ? heads : kv;
        int ffn = requiredInt(o, "intermediate_size");
        int vocab = requiredInt(o, "vocab_size");
        int positions = requiredInt(o, "max_position_embeddings");
        float eps = optionalFloat(o, "rms_norm_eps", 1e-6f);
        boolean tied = optionalBoolean(o, "tie_word_embeddings", false);
        String act = optionalString(o, "hidden_act", "silu");
        if (!act.equals("silu")) {
            throw unsupported("hidden_act", o.get("hidden_act"), "silu");
        }
        requireBoolean(o, "attention_bias", false);
        requireBoolean(o, "mlp_bias", false);
        Float theta = null;
        JsonElement rs = o.get("rope_scaling");
        if (rs != null && !rs.isJsonNull()) {
            theta = defaultRope("rope_scaling", rs);
        }
        JsonElement rp = o.get("rope_parameters");
        if (rp != null && !rp.isJsonNull()) {
            Float t = defaultRope("rope_parameters", rp);
            if (t != null) {
                theta = t;
            }
        }
        if (o.has("rope_theta") && !o.get("rope_theta").isJsonNull()) {
            float top = optionalFloat(o, "rope_theta", 10000f);
            if (theta != null && theta != top) {
                throw new IllegalArgumentException("rope_theta " + top + " disagrees with rope_parameters.rope_theta "
                        + theta);
            }
            theta = top;
        }
        if (theta == null) {
            theta = 10000f;
        }
        if (o.has("partial_rotary_factor") && !o.get("partial_rotary_factor").isJsonNull()
                && optionalFloat(o, "partial_rotary_factor", 1f) != 1f) {
            throw unsupported("partial_rotary_factor", o.get("partial_rotary_factor"), "1.0");
        }
        if (heads <= 0) {
            throw unsupported("num_attention_heads", o.get("num_attention_heads"), "a positive integer");
        }
        Integer headDim = optionalInt(o, "head_dim");
        if (headDim != null && (h % heads != 0 || headDim != h / heads)) {
            throw unsupported("head_dim", o.get("head_dim"), "hidden_size / num_attention_heads");
        }
        return new ModelConfig(Family.LLAMA, h, layers, heads, groups, ffn, vocab, ModelConfig.padVocab(vocab, divisor),
                positions, eps, theta, tied, false);
    }

    /** Accepts only plain RoPE; returns its rope_theta if the object carries one. */
    private static Float defaultRope(String key, JsonElement e) {
        if (!e.isJsonObject()) {
            throw unsupported(key, e, "null (plain RoPE)");
        }
        JsonObject r = e.getAsJsonObject();
        for (String k : new String[] {"rope_type", "type"}) {
            JsonElement t = r.get(k);
            if (t != null && !t.isJsonNull() && !(t.isJsonPrimitive() && t.getAsString().equals("default"))) {
                throw unsupported(key, e, "null (plain RoPE)");
            }
        }
        for (String k : r.keySet()) {
            if (!Set.of("rope_type", "type", "rope_theta").contains(k)) {
                throw unsupported(key, e, "null (plain RoPE)");
            }
        }
        JsonElement t = r.get("rope_theta");
        return t == null || t.isJsonNull() ? null : number(key + ".rope_theta", t).floatValue();
    }

    // --------------------------------------------------------------------------------------------- writing

    /** config.json for the model, as JSON text (pretty-printed). */
    public static String toJson(ModelConfig c) {
        return new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping().create()
                .toJson(toJsonObject(c, DType.F32));
    }

    /**
     * config.json for the model as a mutable object (callers may add e.g. {@code bos_token_id}).
     *
     * @param storage the dtype the weights are saved in (F32, BF16 or F16), written as {@code torch_dtype}
     */
    public static JsonObject toJsonObject(ModelConfig c, DType storage) {
        JsonObject o = new JsonObject();
        if (c.family() == Family.GPT2) {
            if (!c.biases()) {
                throw new IllegalArgumentException("GPT2LMHeadModel always has biases; this config has none");
            }
            if (c.numQueryGroups() != c.numAttentionHeads()) {
                throw new IllegalArgumentException("GPT2LMHeadModel has no grouped-query attention (query groups "
                        + c.numQueryGroups() + " != heads " + c.numAttentionHeads() + ")");
            }
            o.add("architectures", array("GPT2LMHeadModel"));
            o.addProperty("model_type", "gpt2");
            o.addProperty("activation_function", "gelu_new");
            o.addProperty("attn_pdrop", 0.0);
            // GPT2Config defaults both to 50256 (<|endoftext|>); outside a smaller vocabulary transformers warns
            if (c.vocabSize() > 50256) {
                o.addProperty("bos_token_id", 50256);
                o.addProperty("eos_token_id", 50256);
            } else {
                o.add("bos_token_id", JsonNull.INSTANCE);
                o.add("eos_token_id", JsonNull.INSTANCE);
            }
            o.addProperty("embd_pdrop", 0.0);
            o.addProperty("resid_pdrop", 0.0);
            o.addProperty("initializer_range", 0.02);
            o.addProperty("layer_norm_epsilon", c.normEpsilon());
            o.addProperty("n_embd", c.hiddenSize());
            o.addProperty("n_head", c.numAttentionHeads());
            o.addProperty("n_inner", c.ffnHiddenSize());
            o.addProperty("n_layer", c.numLayers());
            o.addProperty("n_positions", c.maxPositionEmbeddings());
            o.addProperty("n_ctx", c.maxPositionEmbeddings());
            o.addProperty("reorder_and_upcast_attn", false);
            o.addProperty("scale_attn_by_inverse_layer_idx", false);
            o.addProperty("scale_attn_weights", true);
            o.addProperty("tie_word_embeddings", c.tiedEmbeddings());
        } else {
            if (c.biases()) {
                throw new IllegalArgumentException("LlamaForCausalLM export supports no biases; this config has them");
            }
            o.add("architectures", array("LlamaForCausalLM"));
            o.addProperty("model_type", "llama");
            o.addProperty("attention_bias", false);
            o.addProperty("attention_dropout", 0.0);
            o.addProperty("head_dim", c.headDim());
            o.addProperty("hidden_act", "silu");
            o.addProperty("hidden_size", c.hiddenSize());
            o.addProperty("initializer_range", 0.02);
            o.addProperty("intermediate_size", c.ffnHiddenSize());
            o.addProperty("max_position_embeddings", c.maxPositionEmbeddings());
            o.addProperty("mlp_bias", false);
            o.addProperty("num_attention_heads", c.numAttentionHeads());
            o.addProperty("num_hidden_layers", c.numLayers());
            o.addProperty("num_key_value_heads", c.numQueryGroups());
            o.addProperty("pretraining_tp", 1);
            o.addProperty("rms_norm_eps", c.normEpsilon());
            o.add("rope_scaling", JsonNull.INSTANCE);
            o.addProperty("rope_theta", c.ropeTheta());
            o.addProperty("tie_word_embeddings", c.tiedEmbeddings());
        }
        o.addProperty("torch_dtype", storage.torchName());
        o.addProperty("use_cache", true);
        o.addProperty("vocab_size", c.vocabSize());
        return o;
    }

    /** Writes config.json (F32 weights), atomically. */
    public static void write(Path configJson, ModelConfig c) throws IOException {
        write(configJson, toJsonObject(c, DType.F32));
    }

    /** Writes a config.json object, pretty-printed, atomically. */
    public static void write(Path configJson, JsonObject config) throws IOException {
        String text = new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping().create()
                .toJson(config) + "\n";
        Path target = configJson.toAbsolutePath();
        Files.createDirectories(target.getParent());
        Path tmp = Safetensors.siblingTempFile(target);
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Safetensors.moveIntoPlace(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    // --------------------------------------------------------------------------------------------- helpers

    private static JsonArray array(String s) {
        JsonArray a = new JsonArray();
        a.add(s);
        return a;
    }

    private static IllegalArgumentException unsupported(String key, JsonElement value, String expected) {
        return new IllegalArgumentException("unsupported config.json value " + key + " = " + value + " (expected "
                + expected + ")");
    }

    private static BigDecimal number(String key, JsonElement e) {
        if (e instanceof JsonPrimitive p && p.isNumber()) {
            try {
                return new BigDecimal(p.getAsString());
            } catch (NumberFormatException ignored) {
                // reported below
            }
        }
        throw new IllegalArgumentException("config.json key " + key + " = " + e + " is not a number");
    }

    private static int requiredInt(JsonObject o, String key) {
        Integer v = optionalInt(o, key);
        if (v == null) {
            throw new IllegalArgumentException("config.json has no " + key);
        }
        return v;
    }

    private static Integer optionalInt(JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        try {
            return number(key, e).intValueExact();
        } catch (ArithmeticException ex) {
            throw new IllegalArgumentException("config.json key " + key + " = " + e + " is not an integer");
        }
    }

    private static float optionalFloat(JsonObject o, String key, float dflt) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return dflt;
        }
        return number(key, e).floatValue();
    }

    private static String optionalString(JsonObject o, String key, String dflt) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return dflt;
        }
        if (!(e instanceof JsonPrimitive p) || !p.isString()) {
            throw new IllegalArgumentException("config.json key " + key + " = " + e + " is not a string");
        }
        return p.getAsString();
    }

    private static boolean optionalBoolean(JsonObject o, String key, boolean dflt) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return dflt;
        }
        if (!(e instanceof JsonPrimitive p) || !p.isBoolean()) {
            throw new IllegalArgumentException("config.json key " + key + " = " + e + " is not a boolean");
        }
        return p.getAsBoolean();
    }

    private static void requireBoolean(JsonObject o, String key, boolean required) {
        if (o.has(key) && optionalBoolean(o, key, required) != required) {
            throw unsupported(key, o.get(key), String.valueOf(required));
        }
    }
}
