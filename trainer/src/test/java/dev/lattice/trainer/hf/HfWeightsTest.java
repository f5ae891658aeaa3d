package dev.lattice.trainer.hf;

import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ModelConfig.Family;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfWeightsTest {

    static final ModelConfig GPT2 = ModelConfig.gpt2(32, 2, 4, 100, 64);
    static final ModelConfig GPT2_UNTIED = GPT2.withTiedEmbeddings(false);
    static final ModelConfig LLAMA_GQA = ModelConfig.llama(32, 2, 4, 2, 48, 100, 64);
    static final ModelConfig LLAMA_TIED = LLAMA_GQA.withTiedEmbeddings(true);
    static final ModelConfig LLAMA_MHA = ModelConfig.llama(32, 1, 4, 4, 40, 130, 64);
    static final ModelConfig LLAMA_MQA = ModelConfig.llama(32, 1, 4, 1, 40, 100, 64);

    /** Random Lattice parameters; padding rows of the vocabulary matrices are zero. */
    static Map<String, NamedTensor> randomLattice(ModelConfig c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, NamedTensor> m = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : HfWeights.latticeShapes(c).entrySet()) {
            NamedTensor t = NamedTensor.zeros(e.getKey(), e.getValue());
            int rows = e.getKey().equals(HfWeights.WORD_EMBEDDINGS) || e.getKey().equals(HfWeights.OUTPUT_LAYER)
                    ? c.vocabSize() * c.hiddenSize() : t.numel();
            for (int i = 0; i < rows; i++) {
                t.data()[i] = (float) r.nextGaussian();
            }
            m.put(e.getKey(), t);
        }
        return m;
    }

    static Map<String, NamedTensor> randomHf(ModelConfig c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, NamedTensor> m = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : HfWeights.hfShapes(c).entrySet()) {
            NamedTensor t = NamedTensor.zeros(e.getKey(), e.getValue());
            for (int i = 0; i < t.numel(); i++) {
                t.data()[i] = (float) r.nextGaussian();
            }
            m.put(e.getKey(), t);
        }
        return m;
    }

    @Test
    void latticeNamesAndShapes() {
        List<String> g = HfWeights.latticeParameterNames(GPT2);
        assertEquals(2 + 2 * 12 + 2, g.size());
        assertEquals(HfWeights.WORD_EMBEDDINGS, g.get(0));
        assertEquals(HfWeights.POSITION_EMBEDDINGS, g.get(1));
        assertEquals("decoder.layers.0.input_layernorm.weight", g.get(2));
        assertEquals("decoder.final_layernorm.bias", g.get(g.size() - 1));
        assertArrayEquals(new int[] {128, 32}, HfWeights.shapeOf(GPT2, HfWeights.WORD_EMBEDDINGS));
        assertArrayEquals(new int[] {96, 32}, HfWeights.shapeOf(GPT2, "decoder.layers.1.self_attention.linear_qkv.weight"));
        assertArrayEquals(new int[] {96}, HfWeights.shapeOf(GPT2, "decoder.layers.1.self_attention.linear_qkv.bias"));
        assertArrayEquals(new int[] {128, 32}, HfWeights.shapeOf(GPT2, "decoder.layers.0.mlp.linear_fc1.weight"));
        assertArrayEquals(new int[] {32, 128}, HfWeights.shapeOf(GPT2, "decoder.layers.0.mlp.linear_fc2.weight"));
        assertTrue(HfWeights.latticeParameterNames(GPT2_UNTIED).contains(HfWeights.OUTPUT_LAYER));

        List<String> l = HfWeights.latticeParameterNames(LLAMA_GQA);
        assertEquals(1 + 2 * 6 + 1 + 1, l.size());
        assertFalse(l.contains(HfWeights.POSITION_EMBEDDINGS));
        assertFalse(l.stream().anyMatch(n -> n.endsWith(".bias")));
        assertEquals(HfWeights.OUTPUT_LAYER, l.get(l.size() - 1));
        assertArrayEquals(new int[] {(4 + 2 * 2) * 8, 32},
                HfWeights.shapeOf(LLAMA_GQA, "decoder.layers.0.self_attention.linear_qkv.weight"));
        assertArrayEquals(new int[] {96, 32}, HfWeights.shapeOf(LLAMA_GQA, "decoder.layers.0.mlp.linear_fc1.weight"));
        assertArrayEquals(new int[] {32, 48}, HfWeights.shapeOf(LLAMA_GQA, "decoder.layers.0.mlp.linear_fc2.weight"));
        assertArrayEquals(new int[] {32, 32}, HfWeights.shapeOf(LLAMA_GQA, "decoder.layers.1.self_attention.linear_proj.weight"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HfWeights.shapeOf(LLAMA_TIED, HfWeights.OUTPUT_LAYER));
        assertTrue(e.getMessage().contains(HfWeights.OUTPUT_LAYER));
    }

    @Test
    void roundTripsAreIdentity() {
        for (ModelConfig c : List.of(GPT2, GPT2_UNTIED, LLAMA_GQA, LLAMA_TIED, LLAMA_MHA, LLAMA_MQA)) {
            Map<String, NamedTensor> lattice = randomLattice(c, 11);
            Map<String, NamedTensor> hf = HfWeights.toHf(c, lattice);
            assertEquals(HfWeights.hfShapes(c).keySet(), hf.keySet());
            for (NamedTensor t : hf.values()) {
                assertArrayEquals(HfWeights.hfShapes(c).get(t.name()), t.shape(), t.name());
            }
            Map<String, NamedTensor> back = HfWeights.toLattice(c, hf);
            assertEquals(HfWeights.latticeParameterNames(c), List.copyOf(back.keySet()));
            assertEquals(lattice, back, c.toString());
            for (String n : back.keySet()) {
                assertNotSame(lattice.get(n).data(), back.get(n).data(), "no aliasing for " + n);
            }
            Map<String, NamedTensor> hf2 = randomHf(c, 12);
            assertEquals(hf2, HfWeights.toHf(c, HfWeights.toLattice(c, hf2)), c.toString());
        }
    }

    @Test
    void paddingRowsAreZeroOnImportAndDroppedOnExport() {
        Map<String, NamedTensor> hf = randomHf(GPT2_UNTIED, 3);
        Map<String, NamedTensor> lat = HfWeights.toLattice(GPT2_UNTIED, hf);
        for (String n : List.of(HfWeights.WORD_EMBEDDINGS, HfWeights.OUTPUT_LAYER)) {
            float[] d = lat.get(n).data();
            assertArrayEquals(new int[] {128, 32}, lat.get(n).shape());
            for (int i = 100 * 32; i < d.length; i++) {
                assertEquals(0f, d[i]);
            }
        }
        Arrays.fill(lat.get(HfWeights.WORD_EMBEDDINGS).data(), 100 * 32, 128 * 32, 5f);  // trained padding
        assertEquals(hf, HfWeights.toHf(GPT2_UNTIED, lat));
    }

    /** c_attn stored [in=h, out=3h]; element (i, j) = 100·i + j, so each value names its output column. */
    @Test
    void gpt2Conv1DAndQkvRegrouping() {
        int h = 4;
        ModelConfig c = ModelConfig.gpt2(h, 1, 2, 3, 5);  // H = 2, d = 2
        Map<String, NamedTensor> hf = randomHf(c, 5);
        float[] cAttn = new float[h * 3 * h];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < 3 * h; j++) {
                cAttn[i * 3 * h + j] = 100 * i + j;
            }
        }
        float[] bias = new float[3 * h];
        for (int j = 0; j < 3 * h; j++) {
            bias[j] = 1000 + j;
        }
        float[] cFc = new float[h * 4 * h];  // [h, F = 16]
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < 4 * h; j++) {
                cFc[i * 4 * h + j] = 100 * i + j;
            }
        }
        float[] cProj = new float[4 * h * h];  // mlp.c_proj [F = 16, h]
        for (int i = 0; i < 4 * h; i++) {
            for (int j = 0; j < h; j++) {
                cProj[i * h + j] = 100 * i + j;
            }
        }
        hf.put("transformer.h.0.attn.c_attn.weight", new NamedTensor("c_attn", new int[] {h, 3 * h}, cAttn));
        hf.put("transformer.h.0.attn.c_attn.bias", new NamedTensor("c_attn.b", new int[] {3 * h}, bias));
        hf.put("transformer.h.0.mlp.c_fc.weight", new NamedTensor("c_fc", new int[] {h, 4 * h}, cFc));
        hf.put("transformer.h.0.mlp.c_proj.weight", new NamedTensor("c_proj", new int[] {4 * h, h}, cProj));
        Map<String, NamedTensor> lat = HfWeights.toLattice(c, hf);

        // q columns 0..3 (head 0: 0,1; head 1: 2,3), k 4..7, v 8..11 ⇒ grouped rows: q0 k0 v0 q1 k1 v1
        int[] columnOfRow = {0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11};
        float[] qkv = lat.get("decoder.layers.0.self_attention.linear_qkv.weight").data();
        float[] qkvBias = lat.get("decoder.layers.0.self_attention.linear_qkv.bias").data();
        for (int r = 0; r < 3 * h; r++) {
            for (int i = 0; i < h; i++) {
                assertEquals(100 * i + columnOfRow[r], qkv[r * h + i], "qkv[" + r + "][" + i + "]");
            }
            assertEquals(1000 + columnOfRow[r], qkvBias[r]);
        }
        float[] fc1 = lat.get("decoder.layers.0.mlp.linear_fc1.weight").data();  // [16, 4]
        for (int o = 0; o < 4 * h; o++) {
            for (int i = 0; i < h; i++) {
                assertEquals(100 * i + o, fc1[o * h + i]);
            }
        }
        float[] fc2 = lat.get("decoder.layers.0.mlp.linear_fc2.weight").data();  // [4, 16]
        for (int o = 0; o < h; o++) {
            for (int i = 0; i < 4 * h; i++) {
                assertEquals(100 * i + o, fc2[o * 4 * h + i]);
            }
        }
        // c_attn.proj: [in, out] -> [out, in]
        float[] proj = hf.get("transformer.h.0.attn.c_proj.weight").data();
        float[] linProj = lat.get("decoder.layers.0.self_attention.linear_proj.weight").data();
        assertEquals(proj[1 * h + 3], linProj[3 * h + 1]);
        assertEquals(hf.get("transformer.wte.weight").data()[2 * h + 1],
                lat.get(HfWeights.WORD_EMBEDDINGS).data()[2 * h + 1]);
    }

    /** H = 4, G = 2, d = 2: rows of q/k/v hold 1000/2000/3000 + 10·row + column. */
    @Test
    void llamaGqaFusion() {
        int h = 8;
        ModelConfig c = ModelConfig.llama(h, 1, 4, 2, 6, 10, 16);
        Map<String, NamedTensor> hf = randomHf(c, 6);
        float[] q = new float[8 * h];
        float[] k = new float[4 * h];
        float[] v = new float[4 * h];
        for (int r = 0; r < 8; r++) {
            for (int col = 0; col < h; col++) {
                q[r * h + col] = 1000 + 10 * r + col;
                if (r < 4) {
                    k[r * h + col] = 2000 + 10 * r + col;
                    v[r * h + col] = 3000 + 10 * r + col;
                }
            }
        }
        hf.put("model.layers.0.self_attn.q_proj.weight", new NamedTensor("q", new int[] {8, h}, q));
        hf.put("model.layers.0.self_attn.k_proj.weight", new NamedTensor("k", new int[] {4, h}, k));
        hf.put("model.layers.0.self_attn.v_proj.weight", new NamedTensor("v", new int[] {4, h}, v));
        float[] fused = HfWeights.toLattice(c, hf).get("decoder.layers.0.self_attention.linear_qkv.weight").data();
        // group 0: q heads 0,1 (q rows 0..3), k0 (k rows 0,1), v0; group 1: q heads 2,3 (q rows 4..7), k1, v1
        int[] source = {1000, 1010, 1020, 1030, 2000, 2010, 3000, 3010,
                        1040, 1050, 1060, 1070, 2020, 2030, 3020, 3030};
        assertEquals(16 * h, fused.length);
        for (int r = 0; r < 16; r++) {
            for (int col = 0; col < h; col++) {
                assertEquals(source[r] + col, fused[r * h + col], "row " + r);
            }
        }
        float[] gate = hf.get("model.layers.0.mlp.gate_proj.weight").data();
        float[] up = hf.get("model.layers.0.mlp.up_proj.weight").data();
        float[] fc1 = HfWeights.toLattice(c, hf).get("decoder.layers.0.mlp.linear_fc1.weight").data();
        assertEquals(gate[5 * h + 3], fc1[5 * h + 3]);
        assertEquals(up[5 * h + 3], fc1[(6 + 5) * h + 3]);
    }

    @Test
    void helpersInvertEachOther() {
        float[] x = new float[6 * 5];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        assertArrayEquals(x, HfWeights.transpose(HfWeights.transpose(x, 6, 5), 5, 6));
        assertEquals(11f, HfWeights.transpose(x, 6, 5)[1 * 6 + 2]);  // t[1][2] = x[2][1] = 2·5 + 1
        float[] qkv = new float[(8 + 2 * 2) * 3 * 2];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = i;
        }
        float[][] s = HfWeights.splitQkv(qkv, 8, 2, 3, 2);
        assertArrayEquals(qkv, HfWeights.fuseQkv(s[0], s[1], s[2], 8, 2, 3, 2));
        float[] stacked = new float[3 * 4 * 2];
        for (int i = 0; i < stacked.length; i++) {
            stacked[i] = i;
        }
        assertArrayEquals(stacked, HfWeights.ungroupToStackedQkv(HfWeights.regroupStackedQkv(stacked, 2, 2, 2), 2, 2, 2));
    }

    @Test
    void namesWithoutPrefixAndBuffersAreAccepted() {
        Map<String, NamedTensor> hf = randomHf(GPT2, 8);
        Map<String, NamedTensor> bare = new LinkedHashMap<>();
        for (Map.Entry<String, NamedTensor> e : hf.entrySet()) {
            bare.put(e.getKey().replaceFirst("^transformer\\.", ""), e.getValue());
        }
        bare.put("h.0.attn.bias", NamedTensor.zeros("h.0.attn.bias", 1, 1, 64, 64));
        bare.put("h.1.attn.masked_bias", NamedTensor.zeros("h.1.attn.masked_bias"));
        bare.put("lm_head.weight", hf.get("transformer.wte.weight"));  // tied copy: allowed when equal
        assertEquals(HfWeights.toLattice(GPT2, hf), HfWeights.toLattice(GPT2, bare));

        Map<String, NamedTensor> llama = randomHf(LLAMA_GQA, 9);
        Map<String, NamedTensor> bareLlama = new LinkedHashMap<>();
        for (Map.Entry<String, NamedTensor> e : llama.entrySet()) {
            bareLlama.put(e.getKey().replaceFirst("^model\\.", ""), e.getValue());
        }
        bareLlama.put("model.layers.0.self_attn.rotary_emb.inv_freq", NamedTensor.zeros("inv_freq", 4));
        assertEquals(HfWeights.toLattice(LLAMA_GQA, llama), HfWeights.toLattice(LLAMA_GQA, bareLlama));
    }

    private static void fails(ModelConfig c, Map<String, NamedTensor> hf, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfWeights.toLattice(c, hf));
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    @Test
    void importErrorsNameTheTensor() {
        Map<String, NamedTensor> hf = randomHf(GPT2, 1);
        hf.remove("transformer.h.1.mlp.c_fc.weight");
        fails(GPT2, hf, "missing HF tensor 'transformer.h.1.mlp.c_fc.weight'", "[32, 128]");

        hf = randomHf(GPT2, 1);
        hf.put("transformer.h.1.mlp.c_fc.weight", NamedTensor.zeros("x", 128, 32));
        fails(GPT2, hf, "'transformer.h.1.mlp.c_fc.weight' has shape [128, 32], expected [32, 128]");

        hf = randomHf(GPT2, 1);
        hf.put("transformer.h.2.ln_1.weight", NamedTensor.zeros("x", 32));
        fails(GPT2, hf, "unexpected HF tensors", "transformer.h.2.ln_1.weight");

        hf = randomHf(GPT2, 1);
        hf.put("lm_head.weight", NamedTensor.zeros("lm_head.weight", 100, 32));
        fails(GPT2, hf, "lm_head.weight", "tie");

        hf = randomHf(GPT2, 1);
        hf.put("wte.weight", hf.get("transformer.wte.weight"));
        fails(GPT2, hf, "transformer.wte.weight", "'wte.weight'");

        Map<String, NamedTensor> llama = randomHf(LLAMA_GQA, 2);
        llama.remove("lm_head.weight");
        fails(LLAMA_GQA, llama, "missing HF tensor 'lm_head.weight'", "[100, 32]");

        llama = randomHf(LLAMA_GQA, 2);
        llama.put("model.layers.0.self_attn.k_proj.weight", NamedTensor.zeros("k", 32, 32));
        fails(LLAMA_GQA, llama, "model.layers.0.self_attn.k_proj.weight", "expected [16, 32]");

        Map<String, NamedTensor> wrongVocab = randomHf(ModelConfig.gpt2(32, 2, 4, 101, 64), 3);
        fails(GPT2, wrongVocab, "transformer.wte.weight", "expected [100, 32]");
    }

    @Test
    void exportErrorsNameTheTensor() {
        Map<String, NamedTensor> lat = randomLattice(LLAMA_GQA, 4);
        lat.remove("decoder.layers.1.mlp.linear_fc1.weight");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfWeights.toHf(LLAMA_GQA, lat));
        assertTrue(e.getMessage().contains("decoder.layers.1.mlp.linear_fc1.weight") && e.getMessage().contains("[96, 32]"),
                e.getMessage());

        Map<String, NamedTensor> lat2 = randomLattice(LLAMA_TIED, 4);
        lat2.put(HfWeights.OUTPUT_LAYER, NamedTensor.zeros(HfWeights.OUTPUT_LAYER, 128, 32));
        e = assertThrows(IllegalArgumentException.class, () -> HfWeights.toHf(LLAMA_TIED, lat2));
        assertTrue(e.getMessage().contains("unexpected") && e.getMessage().contains(HfWeights.OUTPUT_LAYER));

        Map<String, NamedTensor> lat3 = randomLattice(GPT2, 4);
        lat3.put(HfWeights.WORD_EMBEDDINGS, NamedTensor.zeros(HfWeights.WORD_EMBEDDINGS, 100, 32));
        e = assertThrows(IllegalArgumentException.class, () -> HfWeights.toHf(GPT2, lat3));
        assertTrue(e.getMessage().contains("[100, 32], expected [128, 32]"), e.getMessage());

        ModelConfig gqaGpt2 = new ModelConfig(Family.GPT2, 32, 1, 4, 2, 128, 100, 128, 64, 1e-5f, 1e4f, true, true);
        assertThrows(IllegalArgumentException.class, () -> HfWeights.toHf(gqaGpt2, randomLattice(gqaGpt2, 1)));
    }
}
