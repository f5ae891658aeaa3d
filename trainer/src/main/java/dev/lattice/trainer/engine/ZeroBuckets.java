package dev.lattice.trainer.engine;

import dev.lattice.parallel.zero.ZeroLayout;
import dev.lattice.trainer.model.ParameterLayout;

import java.util.List;

/**
 * How the trainer cuts a rank's parameters into ZeRO buckets: by size ({@code --ddp-bucket-size}), and, with
 * {@code firstLayersApart}, also after the parameters that come before the first transformer layer (the embeddings)
 * and after that first layer. On the first pipeline stage these are the gradients made last in the backward pass:
 * the word embeddings are final only after the embedding backward, the first layer's weight gradients can be made
 * after it ({@code GptModel}'s deferral), so the embeddings' reduce-scatter runs beside them; and the next step's
 * forward needs just these two buckets gathered, not a 40 M-element bucket that the first layer happened to spill
 * into. Megatron gives the shared embeddings a bucket of their own for a related reason.
 */
public final class ZeroBuckets {

    private ZeroBuckets() {
    }

    /** The layout of {@code specs} (with their element counts) over {@code dp} ranks. */
    public static ZeroLayout layout(List<ParameterLayout.Spec> specs, long[] sizes, int dp, long bucketElements,
                                    boolean firstLayersApart) {
        return new ZeroLayout(sizes, dp, bucketElements, firstLayersApart ? closeAfter(specs) : new int[0]);
    }

    /**
     * As above for specs in {@link #ordered} order: with {@code productWeightsLast} a bucket also closes after the
     * last parameter that is not a product-only weight, so that every bucket holds one kind only (the bf16 parameter
     * all-gather gathers a bucket of product-only weights as bf16 roundings), and, with {@code firstLayersApart},
     * after the first layer's product-only weights. Buckets are padded to {@link #BF16_ALIGN} elements.
     */
    public static ZeroLayout layout(List<ParameterLayout.Spec> specs, long[] sizes, int dp, long bucketElements,
                                    boolean firstLayersApart, boolean productWeightsLast) {
        if (!productWeightsLast) {
            return layout(specs, sizes, dp, bucketElements, firstLayersApart);
        }
        int lastOther = -1;
        while (lastOther + 1 < specs.size() && !productOnly(specs.get(lastOther + 1))) {
            lastOther++;
        }
        java.util.List<Integer> close = new java.util.ArrayList<>();
        if (lastOther >= 0) {
            close.add(lastOther);
        }
        int first = lastOther + 1;
        if (firstLayersApart && first < specs.size() && specs.get(first).name().startsWith("decoder.layers.")) {
            // the weights start with the first layer's: closeAfter of them gives that layer's last one alone
            for (int i : closeAfter(specs.subList(first, specs.size()))) {
                close.add(first + i);
            }
        }
        return new ZeroLayout(sizes, dp, bucketElements, close.stream().mapToInt(Integer::intValue).toArray(),
                BF16_ALIGN);
    }

    /** Elements a bucket of the bf16 gather's layout is padded to: 256 bytes of bf16, cuBLASLt's alignment. */
    static final long BF16_ALIGN = 128;

    /**
     * Whether only matrix products read the parameter (their bf16 rounding under mixed precision): the matrices except
     * the word and position embeddings, which the embedding lookup reads in fp32.
     */
    public static boolean productOnly(ParameterLayout.Spec s) {
        return s.shape().length == 2 && !s.name().equals(ParameterLayout.WORD_EMBEDDINGS)
                && !s.name().equals(ParameterLayout.POSITION_EMBEDDINGS);
    }

    /**
     * The flat order of ZeRO's buffers: the specs as they are, or with {@code productWeightsLast} every other
     * parameter first (in their order), then the product-only weights (in theirs).
     */
    public static List<ParameterLayout.Spec> ordered(List<ParameterLayout.Spec> specs, boolean productWeightsLast) {
        if (!productWeightsLast) {
            return specs;
        }
        java.util.List<ParameterLayout.Spec> out = new java.util.ArrayList<>(specs.size());
        specs.stream().filter(s -> !productOnly(s)).forEach(out::add);
        specs.stream().filter(ZeroBuckets::productOnly).forEach(out::add);
        return List.copyOf(out);
    }

    /** The indices after which a bucket closes: the last one before the first layer, and that layer's last one. */
    static int[] closeAfter(List<ParameterLayout.Spec> specs) {
        int first = -1;
        for (int i = 0; i < specs.size(); i++) {
            if (specs.get(i).name().startsWith("decoder.layers.")) {
                first = i;
                break;
            }
        }
        if (first < 0) {
            return new int[0];
        }
        String prefix = layerPrefix(specs.get(first).name());
        int last = first;
        while (last + 1 < specs.size() && specs.get(last + 1).name().startsWith(prefix)) {
            last++;
        }
        return first == 0 ? new int[] {last} : new int[] {first - 1, last};
    }

    /** {@code decoder.layers.<l>.} of a layer parameter's name. */
    private static String layerPrefix(String name) {
        int dot = name.indexOf('.', "decoder.layers.".length());
        return name.substring(0, dot + 1);
    }
}
