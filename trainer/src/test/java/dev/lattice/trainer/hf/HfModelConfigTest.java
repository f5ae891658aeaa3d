package dev.lattice.trainer.hf;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.lattice.trainer.io.DType;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ModelConfig.Family;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfModelConfigTest {

    /** The config.json of the 124M "gpt2" checkpoint (as published). */
    static final String GPT2_SMALL = """
            {
              "activation_function": "gelu_new",
              "architectures": ["GPT2LMHeadModel"],
              "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
              "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
              "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
              "resid_pdrop": 0.1, "summary_activation": null, "summary_first_dropout": 0.1,
              "summary_proj_to_labels": true, "summary_type": "cls_index", "summary_use_proj": true,
              "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
              "vocab_size": 50257
            }""";

    /** A TinyLlama-style config (GQA 32/4, untied). */
    static final String LLAMA = """
            {
              "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
              "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048,
              "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048,
              "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22,
              "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
              "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
              "transformers_version": "4.35.0", "use_cache": true, "vocab_size": 32000
            }""";

    private static ModelConfig parse(String base, String key, String value) {
        JsonObject o = JsonParser.parseString(base).getAsJsonObject();
        if (value == null) {
            o.remove(key);
        } else {
            o.add(key, JsonParser.parseString(value));
        }
        return HfModelConfig.fromJson(o.toString());
    }

    private static void rejects(String base, String key, String value) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(base, key, value));
        assertTrue(e.getMessage().contains(key), e.getMessage());
        if (value != null) {
            assertTrue(e.getMessage().contains(JsonParser.parseString(value).toString()), e.getMessage());
        }
    }

    @Test
    void gpt2Small() {
        ModelConfig c = HfModelConfig.fromJson(GPT2_SMALL);
        assertEquals(new ModelConfig(Family.GPT2, 768, 12, 12, 12, 3072, 50257, 50304, 1024, 1e-5f, 10000f, true,
                true), c);
        assertEquals(ModelConfig.gpt2(768, 12, 12, 50257, 1024), c);
    }

    @Test
    void gpt2Options() {
        assertEquals(1000, parse(GPT2_SMALL, "n_inner", "1000").ffnHiddenSize());
        assertEquals(3072, parse(GPT2_SMALL, "n_inner", "null").ffnHiddenSize());
        assertFalse(parse(GPT2_SMALL, "tie_word_embeddings", "false").tiedEmbeddings());
        assertEquals(Family.GPT2, parse(GPT2_SMALL, "activation_function", "\"gelu_pytorch_tanh\"").family());
        assertEquals(1e-6f, parse(GPT2_SMALL, "layer_norm_epsilon", "1e-6").normEpsilon());
        assertEquals(50304, HfModelConfig.fromJson(GPT2_SMALL, 64).paddedVocabSize());
        assertEquals(50260, HfModelConfig.fromJson(GPT2_SMALL, 4).paddedVocabSize());
        rejects(GPT2_SMALL, "activation_function", "\"relu\"");
        rejects(GPT2_SMALL, "activation_function", "\"gelu\"");
        rejects(GPT2_SMALL, "scale_attn_by_inverse_layer_idx", "true");
        rejects(GPT2_SMALL, "scale_attn_weights", "false");
        rejects(GPT2_SMALL, "add_cross_attention", "true");
        rejects(GPT2_SMALL, "n_embd", null);
        rejects(GPT2_SMALL, "n_embd", "76.5");
        rejects(GPT2_SMALL, "n_head", "\"twelve\"");
        rejects(GPT2_SMALL, "model_type", "\"gpt_neox\"");
        assertThrows(IllegalArgumentException.class, () -> parse(GPT2_SMALL, "n_head", "7"));  // 7 ∤ 768
    }

    @Test
    void llama() {
        ModelConfig c = HfModelConfig.fromJson(LLAMA);
        assertEquals(new ModelConfig(Family.LLAMA, 2048, 22, 32, 4, 5632, 32000, 32000, 2048, 1e-5f, 10000f, false,
                false), c);
        assertEquals(32, parse(LLAMA, "num_key_value_heads", null).numQueryGroups());
        assertEquals(10000f, parse(LLAMA, "rope_theta", null).ropeTheta());
        assertEquals(500000f, parse(LLAMA, "rope_theta", "500000.0").ropeTheta());
        assertTrue(parse(LLAMA, "tie_word_embeddings", "true").tiedEmbeddings());
        assertFalse(parse(LLAMA, "tie_word_embeddings", null).tiedEmbeddings());
        assertEquals(1e-6f, parse(LLAMA, "rms_norm_eps", null).normEpsilon());
        assertEquals(64, parse(LLAMA, "head_dim", "64").headDim());
        assertEquals(32000, parse(LLAMA, "rope_scaling", "{\"rope_type\":\"default\"}").vocabSize());
        assertEquals(32128, parse(LLAMA, "vocab_size", "32001").paddedVocabSize());
        // transformers 5 keeps theta in rope_parameters
        assertEquals(500000f, parse(parse0(LLAMA, "rope_theta"), "rope_parameters",
                "{\"rope_type\":\"default\",\"rope_theta\":500000.0}").ropeTheta());
        rejects(LLAMA, "rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8.0}");
        rejects(LLAMA, "rope_scaling", "{\"type\":\"linear\",\"factor\":2.0}");
        rejects(LLAMA, "rope_parameters", "{\"rope_type\":\"yarn\",\"rope_theta\":10000.0,\"factor\":4.0}");
        rejects(LLAMA, "attention_bias", "true");
        rejects(LLAMA, "mlp_bias", "true");
        rejects(LLAMA, "hidden_act", "\"gelu\"");
        rejects(LLAMA, "head_dim", "128");
        rejects(LLAMA, "intermediate_size", null);
        assertThrows(IllegalArgumentException.class, () -> parse(LLAMA, "num_key_value_heads", "5"));
    }

    private static String parse0(String base, String removeKey) {
        JsonObject o = JsonParser.parseString(base).getAsJsonObject();
        o.remove(removeKey);
        return o.toString();
    }

    @Test
    void writesWhatItReads() {
        ModelConfig[] cs = {
            ModelConfig.gpt2(32, 2, 4, 100, 64),
            ModelConfig.gpt2(32, 2, 4, 100, 64).withTiedEmbeddings(false).withNorm(1e-6f),
            new ModelConfig(Family.GPT2, 32, 2, 4, 4, 100, 100, 128, 64, 1e-5f, 10000f, true, true),
            ModelConfig.llama(32, 2, 4, 2, 48, 100, 64),
            ModelConfig.llama(32, 2, 4, 4, 48, 100, 64).withTiedEmbeddings(true).withRopeTheta(500000f),
        };
        for (ModelConfig c : cs) {
            String json = HfModelConfig.toJson(c);
            assertEquals(c, HfModelConfig.fromJson(json), json);
            JsonObject o = JsonParser.parseString(json).getAsJsonObject();
            assertEquals("float32", o.get("torch_dtype").getAsString());
            assertEquals(c.family() == Family.GPT2 ? "GPT2LMHeadModel" : "LlamaForCausalLM",
                    o.getAsJsonArray("architectures").get(0).getAsString());
            assertEquals(100, o.get("vocab_size").getAsInt());
        }
        assertEquals("bfloat16", HfModelConfig.toJsonObject(cs[0], DType.BF16).get("torch_dtype").getAsString());
        assertTrue(HfModelConfig.toJsonObject(cs[0], DType.F32).get("eos_token_id").isJsonNull());  // 50256 ∉ vocab
        assertEquals(50256, HfModelConfig.toJsonObject(ModelConfig.gpt2(64, 1, 2, 50257, 64), DType.F32)
                .get("eos_token_id").getAsInt());
        JsonObject llama = HfModelConfig.toJsonObject(cs[3], DType.F32);
        assertTrue(llama.get("rope_scaling").isJsonNull());
        assertEquals(2, llama.get("num_key_value_heads").getAsInt());
        assertEquals(8, llama.get("head_dim").getAsInt());
    }

    @Test
    void refusesConfigsWithoutHfForm() {
        ModelConfig gqaGpt2 = new ModelConfig(Family.GPT2, 32, 2, 4, 2, 128, 100, 128, 64, 1e-5f, 1e4f, true, true);
        assertThrows(IllegalArgumentException.class, () -> HfModelConfig.toJson(gqaGpt2));
        ModelConfig biasedLlama = new ModelConfig(Family.LLAMA, 32, 2, 4, 2, 48, 100, 128, 64, 1e-5f, 1e4f, false,
                true);
        assertThrows(IllegalArgumentException.class, () -> HfModelConfig.toJson(biasedLlama));
    }

    @Test
    void readAndWriteFiles(@TempDir Path dir) throws IOException {
        ModelConfig c = ModelConfig.llama(32, 2, 4, 2, 48, 100, 64);
        Path f = dir.resolve("config.json");
        HfModelConfig.write(f, c);
        assertEquals(c, HfModelConfig.read(f));
        java.nio.file.Files.writeString(f, "{\"model_type\": \"llama\", \"hidden_act\": \"relu\"");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfModelConfig.read(f));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }
}
