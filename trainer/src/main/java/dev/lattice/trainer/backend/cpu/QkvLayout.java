package dev.lattice.trainer.backend.cpu;

/**
 * Offsets inside one token's row of the fused QKV buffer (Megatron's grouped GQA layout).
 *
 * <p>A row has {@code (H + 2G) * d} floats laid out as, for each kv group {@code g = 0..G-1}:
 * {@code [q heads g*Q .. g*Q+Q-1 (d floats each) | k_g (d) | v_g (d)]} with {@code Q = H / G} query heads
 * per group. Query head {@code h} belongs to group {@code h / Q}. The QKV projection's output features
 * (weight rows) must be ordered the same way.
 */
public final class QkvLayout {

    private QkvLayout() {
    }

    /** Floats per token row: {@code (H + 2G) * d}. */
    public static int rowSize(int H, int G, int d) {
        return (H + 2 * G) * d;
    }

    /** Offset of query head {@code h} within a row. */
    public static int qOffset(int h, int H, int G, int d) {
        int q = H / G;
        int g = h / q;
        return (g * (q + 2) + (h - g * q)) * d;
    }

    /** Offset of key head (group) {@code g} within a row. */
    public static int kOffset(int g, int H, int G, int d) {
        int q = H / G;
        return (g * (q + 2) + q) * d;
    }

    /** Offset of value head (group) {@code g} within a row. */
    public static int vOffset(int g, int H, int G, int d) {
        int q = H / G;
        return (g * (q + 2) + q + 1) * d;
    }

    static void check(int H, int G, int d) {
        if (H <= 0 || G <= 0 || d <= 0 || H % G != 0) {
            throw new IllegalArgumentException("need H % G == 0 and positive sizes, got H=" + H + ", G=" + G
                    + ", d=" + d);
        }
    }
}
