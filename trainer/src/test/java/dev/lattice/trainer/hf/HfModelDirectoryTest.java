package dev.lattice.trainer.hf;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.lattice.trainer.io.DType;
import dev.lattice.trainer.io.HalfFloats;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.io.Safetensors;
import dev.lattice.trainer.model.ModelConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfModelDirectoryTest {

    @TempDir
    Path dir;

    @Test
    void saveAndLoadBothFamilies() throws IOException {
        for (ModelConfig c : List.of(HfWeightsTest.GPT2, HfWeightsTest.GPT2_UNTIED, HfWeightsTest.LLAMA_GQA,
                HfWeightsTest.LLAMA_TIED)) {
            Path d = dir.resolve(c.family() + "-" + c.tiedEmbeddings());
            Map<String, NamedTensor> lattice = HfWeightsTest.randomLattice(c, 21);
            HfModelDirectory.save(d, c, lattice);
            HfModelDirectory.Loaded loaded = HfModelDirectory.load(d);
            assertEquals(c, loaded.config());
            assertEquals(lattice, loaded.tensors());
            try (Safetensors st = Safetensors.open(d.resolve(HfModelDirectory.WEIGHTS))) {
                assertEquals(Map.of("format", "pt"), st.metadata());
                assertEquals(Set.copyOf(HfWeights.hfShapes(c).keySet()), Set.copyOf(st.names()));
                if (c.family() == ModelConfig.Family.GPT2) {
                    assertTrue(st.contains("transformer.wte.weight"));
                }
                assertEquals(!c.tiedEmbeddings(), st.contains("lm_head.weight"));
            }
        }
    }

    @Test
    void saveBf16() throws IOException {
        ModelConfig c = HfWeightsTest.LLAMA_GQA;
        Map<String, NamedTensor> lattice = HfWeightsTest.randomLattice(c, 22);
        HfModelDirectory.save(dir, c, lattice, DType.BF16);
        JsonObject cfg = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        assertEquals("bfloat16", cfg.get("torch_dtype").getAsString());
        HfModelDirectory.Loaded loaded = HfModelDirectory.load(dir);
        float[] a = lattice.get("decoder.layers.1.mlp.linear_fc2.weight").data();
        float[] b = loaded.tensors().get("decoder.layers.1.mlp.linear_fc2.weight").data();
        for (int i = 0; i < a.length; i++) {
            assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(a[i])), b[i]);
        }
    }

    @Test
    void loadsShardedCheckpoints() throws IOException {
        ModelConfig c = HfWeightsTest.LLAMA_GQA;
        Map<String, NamedTensor> hf = HfWeightsTest.randomHf(c, 23);
        HfModelConfig.write(dir.resolve("config.json"), c);
        List<NamedTensor> first = new ArrayList<>();
        List<NamedTensor> second = new ArrayList<>();
        JsonObject weightMap = new JsonObject();
        int i = 0;
        for (NamedTensor t : hf.values()) {
            NamedTensor named = t.withName(t.name());
            boolean one = i++ % 2 == 0;
            (one ? first : second).add(named);
            weightMap.addProperty(t.name(), one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        }
        Safetensors.write(dir.resolve("model-00001-of-00002.safetensors"), first, Map.of("format", "pt"));
        Safetensors.write(dir.resolve("model-00002-of-00002.safetensors"), second, Map.of("format", "pt"));
        JsonObject index = new JsonObject();
        index.add("metadata", JsonParser.parseString("{\"total_size\": 1}"));
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve(HfModelDirectory.WEIGHTS_INDEX), index.toString());

        HfModelDirectory.Loaded loaded = HfModelDirectory.load(dir);
        assertEquals(HfWeights.toLattice(c, hf), loaded.tensors());

        weightMap.addProperty("model.norm.weight", "model-00001-of-00002.safetensors");  // wrong shard
        Files.writeString(dir.resolve(HfModelDirectory.WEIGHTS_INDEX), index.toString());
        IOException e = assertThrows(IOException.class, () -> HfModelDirectory.load(dir));
        assertTrue(e.getMessage().contains("model.norm.weight"), e.getMessage());

        weightMap.addProperty("model.norm.weight", "../escape.safetensors");
        Files.writeString(dir.resolve(HfModelDirectory.WEIGHTS_INDEX), index.toString());
        e = assertThrows(IOException.class, () -> HfModelDirectory.load(dir));
        assertTrue(e.getMessage().contains("escape"), e.getMessage());
    }

    @Test
    void missingFilesAreReported() throws IOException {
        IOException e = assertThrows(IOException.class, () -> HfModelDirectory.load(dir));
        assertTrue(e.getMessage().contains("config.json"));
        HfModelConfig.write(dir.resolve("config.json"), HfWeightsTest.GPT2);
        e = assertThrows(IOException.class, () -> HfModelDirectory.load(dir));
        assertTrue(e.getMessage().contains("model.safetensors"));
    }

    /**
     * The committed fixtures of trainer/tools/make_hf_fixtures.py (transformers' own save_pretrained output), or
     * another output directory given by LATTICE_HF_FIXTURES / -Dlattice.hf.fixtures.
     */
    @Test
    void pythonFixturesLoad() throws Exception {
        String where = System.getProperty("lattice.hf.fixtures", System.getenv("LATTICE_HF_FIXTURES"));
        if (where == null) {
            where = Path.of(getClass().getResource("/dev/lattice/trainer/hf/fixtures").toURI()).toString();
        }
        Assumptions.assumeTrue(Files.isDirectory(Path.of(where)), "no HF fixtures at " + where);
        for (String family : List.of("gpt2", "llama")) {
            Path d = Path.of(where, family);
            HfModelDirectory.Loaded loaded = HfModelDirectory.load(d);
            Map<String, NamedTensor> hf = HfModelDirectory.readHfTensors(d);
            Map<String, NamedTensor> back = HfWeights.toHf(loaded.config(), loaded.tensors());
            for (NamedTensor t : back.values()) {
                assertEquals(t, hf.get(t.name()).withName(t.name()), t.name());
            }
            try (Safetensors expected = Safetensors.open(d.resolve("expected.safetensors"))) {
                assertArrayEquals(new int[] {2, 16, loaded.config().vocabSize()}, expected.shape("logits"));
                Set<String> grads = new HashSet<>();
                for (String n : expected.names()) {
                    if (n.startsWith("grad.")) {
                        grads.add(n.substring(5));
                    }
                }
                assertEquals(back.keySet(), grads);
            }
        }
    }
}
