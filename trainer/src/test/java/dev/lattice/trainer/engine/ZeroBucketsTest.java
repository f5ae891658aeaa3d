package dev.lattice.trainer.engine;

import dev.lattice.parallel.zero.ZeroLayout;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.ParameterLayout;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ZeroBucketsTest {

    private static long[] sizes(List<ParameterLayout.Spec> specs) {
        long[] n = new long[specs.size()];
        for (int i = 0; i < n.length; i++) {
            long e = 1;
            for (int d : specs.get(i).shape()) {
                e *= d;
            }
            n[i] = e;
        }
        return n;
    }

    private static int index(List<ParameterLayout.Spec> specs, String name) {
        for (int i = 0; i < specs.size(); i++) {
            if (specs.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new AssertionError(name);
    }

    @Test
    void gpt2EmbeddingsAndTheFirstLayerGetBucketsOfTheirOwn() {
        List<ParameterLayout.Spec> specs = new ParameterLayout(ModelConfig.gpt2(64, 3, 4, 100, 32)).specs();
        // word (vocabulary padded to 128) and position embeddings, then layer 0 (ending with its FC2 bias), then the rest in one bucket
        int lastOfLayer0 = index(specs, ParameterLayout.layer(0, "mlp.linear_fc2.bias"));
        assertArrayEquals(new int[] {1, lastOfLayer0}, ZeroBuckets.closeAfter(specs));
        ZeroLayout z = ZeroBuckets.layout(specs, sizes(specs), 2, Long.MAX_VALUE, true);
        assertEquals(3, z.buckets().size());
        assertEquals(new ZeroLayout.Bucket(0, 128 * 64 + 32 * 64, 0, 2), z.buckets().get(0));
        assertEquals(lastOfLayer0 + 1, z.buckets().get(1).endParam());
        assertEquals(specs.size(), z.buckets().get(2).endParam());
        // without the rule: the size alone decides (one bucket here)
        assertEquals(1, ZeroBuckets.layout(specs, sizes(specs), 2, Long.MAX_VALUE, false).buckets().size());
    }

    @Test
    void llamaAndStagesWithoutEmbeddings() {
        List<ParameterLayout.Spec> llama = new ParameterLayout(
                ModelConfig.llama(64, 2, 4, 2, 128, 100, 32)).specs();
        int lastOfLayer0 = index(llama, ParameterLayout.layer(0, "mlp.linear_fc2.weight"));
        assertArrayEquals(new int[] {0, lastOfLayer0}, ZeroBuckets.closeAfter(llama));
        // a later pipeline stage: its parameters start with a layer, which alone gets a bucket
        List<ParameterLayout.Spec> gpt2 = new ParameterLayout(ModelConfig.gpt2(64, 3, 4, 100, 32)).specs();
        List<ParameterLayout.Spec> stage = gpt2.stream()
                .filter(s -> !s.name().startsWith("embedding.") && !s.name().startsWith("decoder.layers.0.")).toList();
        int lastOfLayer1 = index(stage, ParameterLayout.layer(1, "mlp.linear_fc2.bias"));
        assertArrayEquals(new int[] {lastOfLayer1}, ZeroBuckets.closeAfter(stage));
        // no layer at all: nothing closes early
        assertArrayEquals(new int[0], ZeroBuckets.closeAfter(gpt2.subList(0, 2)));
    }

    /**
     * The bf16 parameter gather's order: every parameter that is not a product-only weight first (embeddings, norms,
     * biases, in their order), then the product-only weights (in theirs); each bucket holds one kind only, and the
     * first layer's weights still get a bucket of their own.
     */
    @Test
    void productWeightsLastGivesBucketsOfOneKindEach() {
        List<ParameterLayout.Spec> specs = new ParameterLayout(ModelConfig.gpt2(64, 3, 4, 100, 32)).specs();
        List<ParameterLayout.Spec> ordered = ZeroBuckets.ordered(specs, true);
        assertEquals(specs.size(), ordered.size());
        assertEquals(new java.util.HashSet<>(specs), new java.util.HashSet<>(ordered));
        int firstProduct = 0;
        while (!ZeroBuckets.productOnly(ordered.get(firstProduct))) {
            firstProduct++;
        }
        for (int i = firstProduct; i < ordered.size(); i++) {
            assertTrue(ZeroBuckets.productOnly(ordered.get(i)), ordered.get(i).name() + " among the weights");
        }
        assertEquals(ParameterLayout.WORD_EMBEDDINGS, ordered.get(0).name());
        assertEquals(ParameterLayout.layer(0, "self_attention.linear_qkv.weight"), ordered.get(firstProduct).name());
        assertFalse(ZeroBuckets.productOnly(specs.get(index(specs, ParameterLayout.POSITION_EMBEDDINGS))));
        // the relative order within each kind is the model's
        List<String> names = specs.stream().map(ParameterLayout.Spec::name).toList();
        for (int i = 1; i < ordered.size(); i++) {
            if (i != firstProduct) {
                assertTrue(names.indexOf(ordered.get(i - 1).name()) < names.indexOf(ordered.get(i).name()),
                        ordered.get(i - 1).name() + " before " + ordered.get(i).name());
            }
        }
        ZeroLayout z = ZeroBuckets.layout(ordered, sizes(ordered), 2, Long.MAX_VALUE, true, true);
        assertEquals(3, z.buckets().size(), z.buckets().toString());
        assertEquals(firstProduct, z.buckets().get(0).endParam());
        int lastOfLayer0 = index(ordered, ParameterLayout.layer(0, "mlp.linear_fc2.weight"));
        assertEquals(lastOfLayer0 + 1, z.buckets().get(1).endParam());
        for (ZeroLayout.Bucket b : z.buckets()) {
            long products = java.util.stream.IntStream.range(b.firstParam(), b.endParam())
                    .filter(p -> ZeroBuckets.productOnly(ordered.get(p))).count();
            assertTrue(products == 0 || products == b.endParam() - b.firstParam(), "mixed bucket " + b);
        }
        // small buckets by size: still never mixed
        ZeroLayout small = ZeroBuckets.layout(ordered, sizes(ordered), 2, 5000, false, true);
        for (ZeroLayout.Bucket b : small.buckets()) {
            long products = java.util.stream.IntStream.range(b.firstParam(), b.endParam())
                    .filter(p -> ZeroBuckets.productOnly(ordered.get(p))).count();
            assertTrue(products == 0 || products == b.endParam() - b.firstParam(), "mixed bucket " + b);
        }
        // off: the model's order and the layout of before
        assertSame(specs, ZeroBuckets.ordered(specs, false));
        assertEquals(ZeroBuckets.layout(specs, sizes(specs), 2, Long.MAX_VALUE, true).buckets(),
                ZeroBuckets.layout(specs, sizes(specs), 2, Long.MAX_VALUE, true, false).buckets());
    }
}
