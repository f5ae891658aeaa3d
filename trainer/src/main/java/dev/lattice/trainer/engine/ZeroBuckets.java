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
