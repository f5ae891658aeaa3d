package dev.lattice.trainer.hf;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.lattice.trainer.io.DType;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.io.Safetensors;
import dev.lattice.trainer.io.SafetensorsException;
import dev.lattice.trainer.model.ModelConfig;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A HuggingFace model directory: {@code config.json} plus {@code model.safetensors}, or a sharded
 * {@code model.safetensors.index.json} with its shards.
 */
public final class HfModelDirectory {

    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String WEIGHTS_INDEX = "model.safetensors.index.json";
    public static final String GENERATION_CONFIG = "generation_config.json";

    /** A loaded model: its configuration and its parameters under Lattice names (in model order). */
    public record Loaded(ModelConfig config, Map<String, NamedTensor> tensors) {
        public Loaded {
            Objects.requireNonNull(config, "config");
            Objects.requireNonNull(tensors, "tensors");
        }
    }

    private HfModelDirectory() {
    }

    /** Loads config and weights, mapping them to Lattice names; vocabulary padded to a multiple of 128. */
    public static Loaded load(Path dir) throws IOException {
        return load(dir, ModelConfig.VOCAB_DIVISOR);
    }

    /** Loads config and weights, mapping them to Lattice names; vocabulary padded to a multiple of the divisor. */
    public static Loaded load(Path dir, int vocabDivisor) throws IOException {
        Path configFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw new IOException(dir + ": no " + CONFIG);
        }
        ModelConfig config = HfModelConfig.read(configFile, vocabDivisor);
        Map<String, NamedTensor> hf = readHfTensors(dir);
        try {
            return new Loaded(config, HfWeights.toLattice(config, hf));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads the raw HF tensors (HF names as stored) from {@code model.safetensors}, or else from the shards that
     * {@code model.safetensors.index.json} lists.
     */
    public static Map<String, NamedTensor> readHfTensors(Path dir) throws IOException {
        Path single = dir.resolve(WEIGHTS);
        if (Files.isRegularFile(single)) {
            return Safetensors.readAll(single);
        }
        Path index = dir.resolve(WEIGHTS_INDEX);
        if (!Files.isRegularFile(index)) {
            String hint = Files.exists(dir.resolve("pytorch_model.bin"))
                    ? " (only pytorch_model.bin found: re-save with save_pretrained(safe_serialization=True))" : "";
            throw new IOException(dir + ": neither " + WEIGHTS + " nor " + WEIGHTS_INDEX + hint);
        }
        Map<String, List<String>> byShard = readIndex(index);
        Map<String, NamedTensor> out = new LinkedHashMap<>();
        Path root = dir.toAbsolutePath().normalize();
        for (Map.Entry<String, List<String>> e : byShard.entrySet()) {
            Path shard = root.resolve(e.getKey()).normalize();
            if (!shard.startsWith(root) || !shard.getParent().equals(root)) {
                throw new IOException(index + ": shard file '" + e.getKey() + "' is not in " + root);
            }
            if (!Files.isRegularFile(shard)) {
                throw new IOException(index + ": shard file '" + e.getKey() + "' (holding '" + e.getValue().get(0)
                        + "') does not exist");
            }
            try (Safetensors st = Safetensors.open(shard)) {
                for (String name : e.getValue()) {
                    if (!st.contains(name)) {
                        throw new SafetensorsException(index + ": tensor '" + name + "' is mapped to " + e.getKey()
                                + ", which does not hold it");
                    }
                    out.put(name, st.read(name));
                }
            }
        }
        return out;
    }

    /** The index's weight_map grouped by shard file, in order of first appearance. */
    private static Map<String, List<String>> readIndex(Path index) throws IOException {
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(index, StandardCharsets.UTF_8));
        } catch (JsonParseException e) {
            throw new IOException(index + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!root.isJsonObject() || !root.getAsJsonObject().has("weight_map")
                || !root.getAsJsonObject().get("weight_map").isJsonObject()) {
            throw new IOException(index + ": no \"weight_map\" object");
        }
        JsonObject map = root.getAsJsonObject().getAsJsonObject("weight_map");
        Map<String, List<String>> byShard = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : map.entrySet()) {
            JsonElement f = e.getValue();
            if (!f.isJsonPrimitive() || !f.getAsJsonPrimitive().isString()) {
                throw new IOException(index + ": weight_map entry '" + e.getKey() + "' is not a file name: " + f);
            }
            byShard.computeIfAbsent(f.getAsString(), k -> new ArrayList<>()).add(e.getKey());
        }
        return byShard;
    }

    /** Saves config.json and model.safetensors (F32) from Lattice parameters. */
    public static void save(Path dir, ModelConfig config, Map<String, NamedTensor> lattice) throws IOException {
        save(dir, config, lattice, DType.F32);
    }

    /**
     * Saves config.json ({@code torch_dtype} matching {@code storage}) and model.safetensors (metadata
     * {@code format: pt}, which transformers requires) from Lattice parameters. Each file is replaced atomically;
     * other files in the directory are left alone.
     *
     * @param storage F32, BF16 or F16
     */
    public static void save(Path dir, ModelConfig config, Map<String, NamedTensor> lattice, DType storage)
            throws IOException {
        Map<String, NamedTensor> hf = HfWeights.toHf(config, lattice);
        JsonObject json = HfModelConfig.toJsonObject(config, storage);
        Files.createDirectories(dir);
        Safetensors.write(dir.resolve(WEIGHTS), hf.values(), Map.of("format", "pt"), storage);
        HfModelConfig.write(dir.resolve(CONFIG), json);
    }
}
