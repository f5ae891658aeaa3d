package dev.lattice.trainer.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The parameters of a model, in a fixed order, with Megatron-Core's (local spec) names and torch.nn.Linear's
 * [out, in] layout. The fused QKV rows use Megatron's grouped layout (per query group: its query heads, then k,
 * then v), so tensor parallelism later splits it into contiguous row blocks.
 */
public final class ParameterLayout {

    /** One parameter: name, shape, whether AdamW decays it, and its initialisation. */
    public record Spec(String name, int[] shape, boolean weightDecay, Init init, TpSplit split) {

        public long numel() {
            long n = 1;
            for (int s : shape) {
                n *= s;
            }
            return n;
        }
    }

    /** How a parameter starts: Megatron's normal(0, σ) for weights, ones for norm weights, zeros for biases. */
    public enum Init {
        NORMAL, SCALED_NORMAL, ONES, ZEROS
    }

    public static final String WORD_EMBEDDINGS = "embedding.word_embeddings.weight";
    public static final String POSITION_EMBEDDINGS = "embedding.position_embeddings.weight";
    public static final String FINAL_NORM = "decoder.final_layernorm";
    public static final String OUTPUT_LAYER = "output_layer.weight";

    private final List<Spec> specs;

    public ParameterLayout(ModelConfig c) {
        List<Spec> s = new ArrayList<>();
        int h = c.hiddenSize();
        boolean gpt = c.family() == ModelConfig.Family.GPT2;
        s.add(new Spec(WORD_EMBEDDINGS, new int[] {c.paddedVocabSize(), h}, true, Init.NORMAL, TpSplit.ROWS));
        if (gpt) {
            s.add(new Spec(POSITION_EMBEDDINGS, new int[] {c.maxPositionEmbeddings(), h}, true, Init.NORMAL,
                    TpSplit.REPLICATED));
        }
        TpSplit fc1 = c.family() == ModelConfig.Family.LLAMA ? TpSplit.GATE_UP_ROWS : TpSplit.ROWS;
        for (int l = 0; l < c.numLayers(); l++) {
            norm(s, layer(l, "input_layernorm"), h, gpt);
            columnParallel(s, layer(l, "self_attention.linear_qkv"), c.qkvSize(), h, c.biases(), TpSplit.ROWS);
            rowParallel(s, layer(l, "self_attention.linear_proj"), h, c.numAttentionHeads() * c.headDim(),
                    c.biases());
            norm(s, layer(l, "pre_mlp_layernorm"), h, gpt);
            columnParallel(s, layer(l, "mlp.linear_fc1"), c.fc1Size(), h, c.biases(), fc1);
            rowParallel(s, layer(l, "mlp.linear_fc2"), h, c.ffnHiddenSize(), c.biases());
        }
        norm(s, FINAL_NORM, h, gpt);
        if (!c.tiedEmbeddings()) {
            s.add(new Spec(OUTPUT_LAYER, new int[] {c.paddedVocabSize(), h}, true, Init.NORMAL, TpSplit.ROWS));
        }
        this.specs = Collections.unmodifiableList(s);
    }

    /** {@code decoder.layers.<l>.<suffix>}. */
    public static String layer(int l, String suffix) {
        return "decoder.layers." + l + "." + suffix;
    }

    private static void norm(List<Spec> s, String prefix, int h, boolean withBias) {
        s.add(new Spec(prefix + ".weight", new int[] {h}, false, Init.ONES, TpSplit.REPLICATED));
        if (withBias) {
            s.add(new Spec(prefix + ".bias", new int[] {h}, false, Init.ZEROS, TpSplit.REPLICATED));
        }
    }

    /** Output features split over TP ranks (weight rows and bias). */
    private static void columnParallel(List<Spec> s, String prefix, int out, int in, boolean bias, TpSplit split) {
        s.add(new Spec(prefix + ".weight", new int[] {out, in}, true, Init.NORMAL, split));
        if (bias) {
            s.add(new Spec(prefix + ".bias", new int[] {out}, false, Init.ZEROS, split));
        }
    }

    /** Input features split over TP ranks (weight columns); the bias is added once, after the all-reduce. */
    private static void rowParallel(List<Spec> s, String prefix, int out, int in, boolean bias) {
        s.add(new Spec(prefix + ".weight", new int[] {out, in}, true, Init.SCALED_NORMAL, TpSplit.COLUMNS));
        if (bias) {
            s.add(new Spec(prefix + ".bias", new int[] {out}, false, Init.ZEROS, TpSplit.REPLICATED));
        }
    }

    public List<Spec> specs() {
        return specs;
    }

    public Spec spec(String name) {
        for (Spec s : specs) {
            if (s.name().equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("no parameter named " + name);
    }

    /** Total parameter count. */
    public long numel() {
        return specs.stream().mapToLong(Spec::numel).sum();
    }
}
