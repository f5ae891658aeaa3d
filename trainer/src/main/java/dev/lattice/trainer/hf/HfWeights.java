package dev.lattice.trainer.hf;

import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ModelConfig.Family;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Lattice parameter names and layouts, and their mapping to and from HuggingFace {@code GPT2LMHeadModel} and
 * {@code LlamaForCausalLM} state dicts.
 *
 * <p>Lattice layouts are row-major, linear weights {@code [out, in]} like {@code torch.nn.Linear}, named as in
 * Megatron-Core's local spec (see {@link #latticeParameterNames}). The fused QKV weight uses Megatron's grouped
 * layout: for each query group g, the H/G query heads of the group (d rows each), then k_g, then v_g.
 * Word-embedding and output-layer rows {@code >= vocabSize} are vocabulary padding: zero on import, dropped on
 * export.
 *
 * <p>HF GPT-2 names carry the {@code transformer.} prefix on export (as {@code save_pretrained} writes them); import
 * accepts them with or without it, ignores the {@code attn.bias}/{@code attn.masked_bias} buffers, and accepts
 * {@code lm_head.weight} with tied embeddings only if it equals {@code wte}. HF Llama names carry {@code model.}
 * (import also accepts them without it, and ignores {@code rotary_emb.inv_freq} buffers).
 */
public final class HfWeights {

    /** Lattice names. */
    public static final String WORD_EMBEDDINGS = "embedding.word_embeddings.weight";
    public static final String POSITION_EMBEDDINGS = "embedding.position_embeddings.weight";
    public static final String FINAL_NORM = "decoder.final_layernorm";
    public static final String OUTPUT_LAYER = "output_layer.weight";
    /** Prefixes that {@code save_pretrained} writes. */
    public static final String GPT2_PREFIX = "transformer.";
    public static final String LLAMA_PREFIX = "model.";
    public static final String LM_HEAD = "lm_head.weight";

    private static final Pattern GPT2_BUFFERS = Pattern.compile("h\\.\\d+\\.attn\\.(bias|masked_bias)");
    private static final Pattern LLAMA_BUFFERS = Pattern.compile("layers\\.\\d+\\.self_attn\\.rotary_emb\\.inv_freq");

    private HfWeights() {
    }

    /** {@code decoder.layers.{i}.} */
    public static String layerPrefix(int i) {
        return "decoder.layers." + i + ".";
    }

    // ------------------------------------------------------------------------------------ Lattice names/shapes

    /** Whether linear layers have biases. */
    private static boolean linearBias(ModelConfig c) {
        return c.biases();
    }

    /** Whether norms have biases: GPT-2's LayerNorm always (as model.ParameterLayout), Llama's RMSNorm never. */
    private static boolean normBias(ModelConfig c) {
        return c.family() == Family.GPT2;
    }

    /**
     * Lattice's parameters with their shapes, in model order: embeddings, then each layer (input norm, QKV,
     * projection, pre-MLP norm, fc1, fc2; weight before bias), the final norm and the untied output layer.
     */
    public static Map<String, int[]> latticeShapes(ModelConfig c) {
        int h = c.hiddenSize();
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put(WORD_EMBEDDINGS, new int[] {c.paddedVocabSize(), h});
        if (c.family() == Family.GPT2) {
            m.put(POSITION_EMBEDDINGS, new int[] {c.maxPositionEmbeddings(), h});
        }
        boolean lb = linearBias(c);
        boolean nb = normBias(c);
        int attn = c.numAttentionHeads() * c.headDim();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = layerPrefix(i);
            norm(m, p + "input_layernorm", h, nb);
            linear(m, p + "self_attention.linear_qkv", c.qkvSize(), h, lb);
            linear(m, p + "self_attention.linear_proj", h, attn, lb);
            norm(m, p + "pre_mlp_layernorm", h, nb);
            linear(m, p + "mlp.linear_fc1", c.fc1Size(), h, lb);
            linear(m, p + "mlp.linear_fc2", h, c.ffnHiddenSize(), lb);
        }
        norm(m, FINAL_NORM, h, nb);
        if (!c.tiedEmbeddings()) {
            m.put(OUTPUT_LAYER, new int[] {c.paddedVocabSize(), h});
        }
        return m;
    }

    private static void norm(Map<String, int[]> m, String base, int h, boolean bias) {
        m.put(base + ".weight", new int[] {h});
        if (bias) {
            m.put(base + ".bias", new int[] {h});
        }
    }

    private static void linear(Map<String, int[]> m, String base, int out, int in, boolean bias) {
        m.put(base + ".weight", new int[] {out, in});
        if (bias) {
            m.put(base + ".bias", new int[] {out});
        }
    }

    /** Lattice's parameter names in model order (see {@link #latticeShapes}). */
    public static List<String> latticeParameterNames(ModelConfig c) {
        return List.copyOf(latticeShapes(c).keySet());
    }

    /** The shape of one Lattice parameter; {@link IllegalArgumentException} for an unknown name. */
    public static int[] shapeOf(ModelConfig c, String name) {
        int[] s = latticeShapes(c).get(name);
        if (s == null) {
            throw new IllegalArgumentException("no Lattice parameter named '" + name + "' for " + c.family()
                    + " with " + c.numLayers() + " layers" + (c.tiedEmbeddings() ? ", tied embeddings" : ""));
        }
        return s.clone();
    }

    // ------------------------------------------------------------------------------------ HF names/shapes

    /** The HF state-dict names and shapes that {@link #toHf} produces (with the save_pretrained prefixes). */
    public static Map<String, int[]> hfShapes(ModelConfig c) {
        checkSupported(c);
        int h = c.hiddenSize();
        int v = c.vocabSize();
        int f = c.ffnHiddenSize();
        Map<String, int[]> m = new LinkedHashMap<>();
        if (c.family() == Family.GPT2) {
            String t = GPT2_PREFIX;
            m.put(t + "wte.weight", new int[] {v, h});
            m.put(t + "wpe.weight", new int[] {c.maxPositionEmbeddings(), h});
            for (int i = 0; i < c.numLayers(); i++) {
                String p = t + "h." + i + ".";
                m.put(p + "ln_1.weight", new int[] {h});
                m.put(p + "ln_1.bias", new int[] {h});
                m.put(p + "attn.c_attn.weight", new int[] {h, 3 * h});
                m.put(p + "attn.c_attn.bias", new int[] {3 * h});
                m.put(p + "attn.c_proj.weight", new int[] {h, h});
                m.put(p + "attn.c_proj.bias", new int[] {h});
                m.put(p + "ln_2.weight", new int[] {h});
                m.put(p + "ln_2.bias", new int[] {h});
                m.put(p + "mlp.c_fc.weight", new int[] {h, f});
                m.put(p + "mlp.c_fc.bias", new int[] {f});
                m.put(p + "mlp.c_proj.weight", new int[] {f, h});
                m.put(p + "mlp.c_proj.bias", new int[] {h});
            }
            m.put(t + "ln_f.weight", new int[] {h});
            m.put(t + "ln_f.bias", new int[] {h});
        } else {
            String t = LLAMA_PREFIX;
            int d = c.headDim();
            m.put(t + "embed_tokens.weight", new int[] {v, h});
            for (int i = 0; i < c.numLayers(); i++) {
                String p = t + "layers." + i + ".";
                m.put(p + "input_layernorm.weight", new int[] {h});
                m.put(p + "self_attn.q_proj.weight", new int[] {c.numAttentionHeads() * d, h});
                m.put(p + "self_attn.k_proj.weight", new int[] {c.numQueryGroups() * d, h});
                m.put(p + "self_attn.v_proj.weight", new int[] {c.numQueryGroups() * d, h});
                m.put(p + "self_attn.o_proj.weight", new int[] {h, c.numAttentionHeads() * d});
                m.put(p + "post_attention_layernorm.weight", new int[] {h});
                m.put(p + "mlp.gate_proj.weight", new int[] {f, h});
                m.put(p + "mlp.up_proj.weight", new int[] {f, h});
                m.put(p + "mlp.down_proj.weight", new int[] {h, f});
            }
            m.put(t + "norm.weight", new int[] {h});
        }
        if (!c.tiedEmbeddings()) {
            m.put(LM_HEAD, new int[] {v, h});
        }
        return m;
    }

    private static void checkSupported(ModelConfig c) {
        if (c.family() == Family.GPT2) {
            if (!c.biases()) {
                throw new IllegalArgumentException("HF GPT-2 has biases; a GPT-2 config without biases has no HF form");
            }
            if (c.numQueryGroups() != c.numAttentionHeads()) {
                throw new IllegalArgumentException("HF GPT-2 has no grouped-query attention (groups "
                        + c.numQueryGroups() + ", heads " + c.numAttentionHeads() + ")");
            }
        } else if (c.biases()) {
            throw new IllegalArgumentException("HF Llama mapping supports no biases (attention_bias/mlp_bias)");
        }
    }

    // ------------------------------------------------------------------------------------ HF -> Lattice

    /**
     * Converts an HF state dict (keyed by HF name) into Lattice parameters (keyed by Lattice name, in
     * {@link #latticeParameterNames} order).
     *
     * @throws IllegalArgumentException for missing, unexpected or mis-shaped tensors, naming the tensor and the
     *                                  expected shape
     */
    public static Map<String, NamedTensor> toLattice(ModelConfig c, Map<String, NamedTensor> hf) {
        checkSupported(c);
        Source src = new Source(c, hf);
        int h = c.hiddenSize();
        int v = c.vocabSize();
        int f = c.ffnHiddenSize();
        int heads = c.numAttentionHeads();
        int groups = c.numQueryGroups();
        int d = c.headDim();
        Map<String, NamedTensor> out = new LinkedHashMap<>();
        if (c.family() == Family.GPT2) {
            float[] wte = src.take("wte.weight", v, h);
            put(out, WORD_EMBEDDINGS, padRows(wte, v, c.paddedVocabSize(), h), c.paddedVocabSize(), h);
            put(out, POSITION_EMBEDDINGS, src.take("wpe.weight", c.maxPositionEmbeddings(), h),
                    c.maxPositionEmbeddings(), h);
            for (int i = 0; i < c.numLayers(); i++) {
                String s = "h." + i + ".";
                String p = layerPrefix(i);
                put(out, p + "input_layernorm.weight", src.take(s + "ln_1.weight", h), h);
                put(out, p + "input_layernorm.bias", src.take(s + "ln_1.bias", h), h);
                float[] cAttn = transpose(src.take(s + "attn.c_attn.weight", h, 3 * h), h, 3 * h);
                put(out, p + "self_attention.linear_qkv.weight", regroupStackedQkv(cAttn, heads, d, h), 3 * h, h);
                put(out, p + "self_attention.linear_qkv.bias",
                        regroupStackedQkv(src.take(s + "attn.c_attn.bias", 3 * h), heads, d, 1), 3 * h);
                put(out, p + "self_attention.linear_proj.weight",
                        transpose(src.take(s + "attn.c_proj.weight", h, h), h, h), h, h);
                put(out, p + "self_attention.linear_proj.bias", src.take(s + "attn.c_proj.bias", h), h);
                put(out, p + "pre_mlp_layernorm.weight", src.take(s + "ln_2.weight", h), h);
                put(out, p + "pre_mlp_layernorm.bias", src.take(s + "ln_2.bias", h), h);
                put(out, p + "mlp.linear_fc1.weight", transpose(src.take(s + "mlp.c_fc.weight", h, f), h, f), f, h);
                put(out, p + "mlp.linear_fc1.bias", src.take(s + "mlp.c_fc.bias", f), f);
                put(out, p + "mlp.linear_fc2.weight", transpose(src.take(s + "mlp.c_proj.weight", f, h), f, h), h, f);
                put(out, p + "mlp.linear_fc2.bias", src.take(s + "mlp.c_proj.bias", h), h);
            }
            put(out, FINAL_NORM + ".weight", src.take("ln_f.weight", h), h);
            put(out, FINAL_NORM + ".bias", src.take("ln_f.bias", h), h);
            src.lmHead(out, wte);
        } else {
            float[] emb = src.take("embed_tokens.weight", v, h);
            put(out, WORD_EMBEDDINGS, padRows(emb, v, c.paddedVocabSize(), h), c.paddedVocabSize(), h);
            for (int i = 0; i < c.numLayers(); i++) {
                String s = "layers." + i + ".";
                String p = layerPrefix(i);
                put(out, p + "input_layernorm.weight", src.take(s + "input_layernorm.weight", h), h);
                float[] q = src.take(s + "self_attn.q_proj.weight", heads * d, h);
                float[] k = src.take(s + "self_attn.k_proj.weight", groups * d, h);
                float[] vv = src.take(s + "self_attn.v_proj.weight", groups * d, h);
                put(out, p + "self_attention.linear_qkv.weight", fuseQkv(q, k, vv, heads, groups, d, h),
                        c.qkvSize(), h);
                put(out, p + "self_attention.linear_proj.weight", src.take(s + "self_attn.o_proj.weight", h, heads * d),
                        h, heads * d);
                put(out, p + "pre_mlp_layernorm.weight", src.take(s + "post_attention_layernorm.weight", h), h);
                float[] gate = src.take(s + "mlp.gate_proj.weight", f, h);
                float[] up = src.take(s + "mlp.up_proj.weight", f, h);
                float[] fc1 = Arrays.copyOf(gate, 2 * f * h);
                System.arraycopy(up, 0, fc1, f * h, f * h);
                put(out, p + "mlp.linear_fc1.weight", fc1, 2 * f, h);
                put(out, p + "mlp.linear_fc2.weight", src.take(s + "mlp.down_proj.weight", h, f), h, f);
            }
            put(out, FINAL_NORM + ".weight", src.take("norm.weight", h), h);
            src.lmHead(out, emb);
        }
        src.checkAllUsed();
        return out;
    }

    /** HF tensors with the optional prefix removed, tracking which were used. */
    private static final class Source {
        private final ModelConfig c;
        private final String prefix;
        private final Map<String, NamedTensor> byShortName = new LinkedHashMap<>();
        private final Map<String, String> originalName = new LinkedHashMap<>();

        Source(ModelConfig c, Map<String, NamedTensor> hf) {
            this.c = c;
            this.prefix = c.family() == Family.GPT2 ? GPT2_PREFIX : LLAMA_PREFIX;
            Pattern buffers = c.family() == Family.GPT2 ? GPT2_BUFFERS : LLAMA_BUFFERS;
            for (Map.Entry<String, NamedTensor> e : hf.entrySet()) {
                String name = e.getKey();
                String shortName = name.startsWith(prefix) ? name.substring(prefix.length()) : name;
                if (buffers.matcher(shortName).matches()) {
                    continue;
                }
                String prev = originalName.put(shortName, name);
                if (prev != null) {
                    throw new IllegalArgumentException("HF tensors '" + prev + "' and '" + name
                            + "' are the same parameter (with and without the '" + prefix + "' prefix)");
                }
                byShortName.put(shortName, e.getValue());
            }
        }

        String display(String shortName) {
            return shortName.equals(LM_HEAD) ? shortName : prefix + shortName;
        }

        float[] take(String shortName, int... shape) {
            NamedTensor t = byShortName.remove(shortName);
            if (t == null) {
                throw new IllegalArgumentException("missing HF tensor '" + display(shortName) + "' (expected shape "
                        + Arrays.toString(shape) + ")");
            }
            if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("HF tensor '" + originalName.get(shortName) + "' has shape "
                        + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
            }
            return t.data().clone();
        }

        void lmHead(Map<String, NamedTensor> out, float[] embedding) {
            int v = c.vocabSize();
            int h = c.hiddenSize();
            if (c.tiedEmbeddings()) {
                NamedTensor head = byShortName.get(LM_HEAD);
                if (head != null) {
                    float[] w = take(LM_HEAD, v, h);
                    if (!Arrays.equals(w, embedding)) {
                        throw new IllegalArgumentException("HF tensor '" + LM_HEAD + "' differs from the word "
                                + "embeddings, but the config ties them (tie_word_embeddings)");
                    }
                }
            } else {
                put(out, OUTPUT_LAYER, padRows(take(LM_HEAD, v, h), v, c.paddedVocabSize(), h),
                        c.paddedVocabSize(), h);
            }
        }

        void checkAllUsed() {
            if (!byShortName.isEmpty()) {
                List<String> names = new ArrayList<>();
                for (String s : byShortName.keySet()) {
                    names.add(originalName.get(s));
                }
                throw new IllegalArgumentException("unexpected HF tensors for " + c.family() + " with "
                        + c.numLayers() + " layers" + (c.tiedEmbeddings() ? " and tied embeddings" : "") + ": "
                        + names);
            }
        }
    }

    // ------------------------------------------------------------------------------------ Lattice -> HF

    /**
     * Converts Lattice parameters into an HF state dict with save_pretrained's names ({@code transformer.} /
     * {@code model.} prefixes, {@code lm_head.weight} only when untied), in {@link #hfShapes} order.
     *
     * @throws IllegalArgumentException for missing, unexpected or mis-shaped tensors, naming the tensor and the
     *                                  expected shape
     */
    public static Map<String, NamedTensor> toHf(ModelConfig c, Map<String, NamedTensor> lattice) {
        checkSupported(c);
        checkLattice(c, lattice);
        int h = c.hiddenSize();
        int v = c.vocabSize();
        int f = c.ffnHiddenSize();
        int heads = c.numAttentionHeads();
        int groups = c.numQueryGroups();
        int d = c.headDim();
        Map<String, NamedTensor> out = new LinkedHashMap<>();
        float[] emb = Arrays.copyOf(lattice.get(WORD_EMBEDDINGS).data(), v * h);
        if (c.family() == Family.GPT2) {
            String t = GPT2_PREFIX;
            put(out, t + "wte.weight", emb, v, h);
            put(out, t + "wpe.weight", data(lattice, POSITION_EMBEDDINGS), c.maxPositionEmbeddings(), h);
            for (int i = 0; i < c.numLayers(); i++) {
                String s = t + "h." + i + ".";
                String p = layerPrefix(i);
                put(out, s + "ln_1.weight", data(lattice, p + "input_layernorm.weight"), h);
                put(out, s + "ln_1.bias", data(lattice, p + "input_layernorm.bias"), h);
                float[] stacked = ungroupToStackedQkv(data(lattice, p + "self_attention.linear_qkv.weight"), heads, d, h);
                put(out, s + "attn.c_attn.weight", transpose(stacked, 3 * h, h), h, 3 * h);
                put(out, s + "attn.c_attn.bias",
                        ungroupToStackedQkv(data(lattice, p + "self_attention.linear_qkv.bias"), heads, d, 1), 3 * h);
                put(out, s + "attn.c_proj.weight",
                        transpose(data(lattice, p + "self_attention.linear_proj.weight"), h, h), h, h);
                put(out, s + "attn.c_proj.bias", data(lattice, p + "self_attention.linear_proj.bias"), h);
                put(out, s + "ln_2.weight", data(lattice, p + "pre_mlp_layernorm.weight"), h);
                put(out, s + "ln_2.bias", data(lattice, p + "pre_mlp_layernorm.bias"), h);
                put(out, s + "mlp.c_fc.weight", transpose(data(lattice, p + "mlp.linear_fc1.weight"), f, h), h, f);
                put(out, s + "mlp.c_fc.bias", data(lattice, p + "mlp.linear_fc1.bias"), f);
                put(out, s + "mlp.c_proj.weight", transpose(data(lattice, p + "mlp.linear_fc2.weight"), h, f), f, h);
                put(out, s + "mlp.c_proj.bias", data(lattice, p + "mlp.linear_fc2.bias"), h);
            }
            put(out, t + "ln_f.weight", data(lattice, FINAL_NORM + ".weight"), h);
            put(out, t + "ln_f.bias", data(lattice, FINAL_NORM + ".bias"), h);
        } else {
            String t = LLAMA_PREFIX;
            put(out, t + "embed_tokens.weight", emb, v, h);
            for (int i = 0; i < c.numLayers(); i++) {
                String s = t + "layers." + i + ".";
                String p = layerPrefix(i);
                put(out, s + "input_layernorm.weight", data(lattice, p + "input_layernorm.weight"), h);
                float[][] qkv = splitQkv(data(lattice, p + "self_attention.linear_qkv.weight"), heads, groups, d, h);
                put(out, s + "self_attn.q_proj.weight", qkv[0], heads * d, h);
                put(out, s + "self_attn.k_proj.weight", qkv[1], groups * d, h);
                put(out, s + "self_attn.v_proj.weight", qkv[2], groups * d, h);
                put(out, s + "self_attn.o_proj.weight", data(lattice, p + "self_attention.linear_proj.weight"),
                        h, heads * d);
                put(out, s + "post_attention_layernorm.weight", data(lattice, p + "pre_mlp_layernorm.weight"), h);
                float[] fc1 = data(lattice, p + "mlp.linear_fc1.weight");
                put(out, s + "mlp.gate_proj.weight", Arrays.copyOfRange(fc1, 0, f * h), f, h);
                put(out, s + "mlp.up_proj.weight", Arrays.copyOfRange(fc1, f * h, 2 * f * h), f, h);
                put(out, s + "mlp.down_proj.weight", data(lattice, p + "mlp.linear_fc2.weight"), h, f);
            }
            put(out, t + "norm.weight", data(lattice, FINAL_NORM + ".weight"), h);
        }
        if (!c.tiedEmbeddings()) {
            put(out, LM_HEAD, Arrays.copyOf(lattice.get(OUTPUT_LAYER).data(), v * h), v, h);
        }
        return out;
    }

    /** Checks that {@code lattice} holds exactly the parameters of {@code c} with their shapes. */
    public static void checkLattice(ModelConfig c, Map<String, NamedTensor> lattice) {
        Map<String, int[]> shapes = latticeShapes(c);
        for (Map.Entry<String, int[]> e : shapes.entrySet()) {
            NamedTensor t = lattice.get(e.getKey());
            if (t == null) {
                throw new IllegalArgumentException("missing Lattice parameter '" + e.getKey() + "' (expected shape "
                        + Arrays.toString(e.getValue()) + ")");
            }
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new IllegalArgumentException("Lattice parameter '" + e.getKey() + "' has shape "
                        + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(e.getValue()));
            }
        }
        if (!shapes.keySet().containsAll(lattice.keySet())) {
            TreeSet<String> extra = new TreeSet<>(lattice.keySet());
            extra.removeAll(shapes.keySet());
            throw new IllegalArgumentException("unexpected Lattice parameters for " + c.family() + " with "
                    + c.numLayers() + " layers" + (c.tiedEmbeddings() ? " and tied embeddings" : "") + ": " + extra);
        }
    }

    private static float[] data(Map<String, NamedTensor> m, String name) {
        return m.get(name).data().clone();
    }

    private static void put(Map<String, NamedTensor> out, String name, float[] data, int... shape) {
        out.put(name, new NamedTensor(name, shape, data));
    }

    // ------------------------------------------------------------------------------------ layout helpers

    /** Transposes a row-major {@code [rows, cols]} matrix into a new {@code [cols, rows]} one. */
    public static float[] transpose(float[] a, int rows, int cols) {
        if (a.length != rows * cols) {
            throw new IllegalArgumentException("matrix of " + a.length + " values is not " + rows + "×" + cols);
        }
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[base + c];
            }
        }
        return t;
    }

    /** Rows 0..V−1 of a {@code [V, cols]} matrix, followed by zero rows up to {@code paddedRows}. */
    public static float[] padRows(float[] a, int rows, int paddedRows, int cols) {
        if (a.length != rows * cols) {
            throw new IllegalArgumentException("matrix of " + a.length + " values is not " + rows + "×" + cols);
        }
        return Arrays.copyOf(a, paddedRows * cols);
    }

    /**
     * Fuses separate Q {@code [H·d, cols]}, K and V {@code [G·d, cols]} into Megatron's grouped layout
     * {@code [(H+2G)·d, cols]}: per group g, query heads g·H/G … (g+1)·H/G−1, then k_g, then v_g. Use
     * {@code cols = 1} for biases.
     */
    public static float[] fuseQkv(float[] q, float[] k, float[] v, int heads, int groups, int headDim, int cols) {
        checkQkv(heads, groups, headDim, cols, q.length, k.length, v.length);
        int qPerGroup = heads / groups;
        int block = headDim * cols;
        float[] out = new float[(heads + 2 * groups) * block];
        int pos = 0;
        for (int g = 0; g < groups; g++) {
            System.arraycopy(q, g * qPerGroup * block, out, pos, qPerGroup * block);
            pos += qPerGroup * block;
            System.arraycopy(k, g * block, out, pos, block);
            pos += block;
            System.arraycopy(v, g * block, out, pos, block);
            pos += block;
        }
        return out;
    }

    /** Inverse of {@link #fuseQkv}: returns {q, k, v}. */
    public static float[][] splitQkv(float[] qkv, int heads, int groups, int headDim, int cols) {
        if (groups <= 0 || heads % groups != 0 || qkv.length != (heads + 2 * groups) * headDim * cols) {
            throw new IllegalArgumentException("fused QKV of " + qkv.length + " values does not match heads " + heads
                    + ", groups " + groups + ", head size " + headDim + ", columns " + cols);
        }
        int qPerGroup = heads / groups;
        int block = headDim * cols;
        float[] q = new float[heads * block];
        float[] k = new float[groups * block];
        float[] v = new float[groups * block];
        int pos = 0;
        for (int g = 0; g < groups; g++) {
            System.arraycopy(qkv, pos, q, g * qPerGroup * block, qPerGroup * block);
            pos += qPerGroup * block;
            System.arraycopy(qkv, pos, k, g * block, block);
            pos += block;
            System.arraycopy(qkv, pos, v, g * block, block);
            pos += block;
        }
        return new float[][] {q, k, v};
    }

    /** Stacked {@code [q all heads | k all heads | v all heads]} rows ({@code [3·H·d, cols]}) to grouped (G = H). */
    public static float[] regroupStackedQkv(float[] stacked, int heads, int headDim, int cols) {
        int n = heads * headDim * cols;
        if (stacked.length != 3 * n) {
            throw new IllegalArgumentException("stacked QKV of " + stacked.length + " values is not 3×" + n);
        }
        return fuseQkv(Arrays.copyOfRange(stacked, 0, n), Arrays.copyOfRange(stacked, n, 2 * n),
                Arrays.copyOfRange(stacked, 2 * n, 3 * n), heads, heads, headDim, cols);
    }

    /** Inverse of {@link #regroupStackedQkv}. */
    public static float[] ungroupToStackedQkv(float[] grouped, int heads, int headDim, int cols) {
        float[][] qkv = splitQkv(grouped, heads, heads, headDim, cols);
        int n = heads * headDim * cols;
        float[] out = new float[3 * n];
        System.arraycopy(qkv[0], 0, out, 0, n);
        System.arraycopy(qkv[1], 0, out, n, n);
        System.arraycopy(qkv[2], 0, out, 2 * n, n);
        return out;
    }

    private static void checkQkv(int heads, int groups, int headDim, int cols, int q, int k, int v) {
        if (groups <= 0 || heads % groups != 0) {
            throw new IllegalArgumentException("query groups " + groups + " do not divide heads " + heads);
        }
        if (q != heads * headDim * cols || k != groups * headDim * cols || v != groups * headDim * cols) {
            throw new IllegalArgumentException("Q/K/V sizes " + q + "/" + k + "/" + v + " do not match heads "
                    + heads + ", groups " + groups + ", head size " + headDim + ", columns " + cols);
        }
    }
}
