package dev.lattice.trainer.model;

/**
 * How a parameter is divided among the ranks of a tensor-parallel group (Megatron's parallel linear layers).
 * Shards are computed from the full tensor, so a model initialised in full and then sharded equals the single-rank
 * model, and a checkpoint can be cut for any TP size.
 */
public enum TpSplit {
    /** Every rank holds the whole tensor (norms, position embeddings, biases of row-parallel layers). */
    REPLICATED,
    /**
     * Contiguous blocks of the first dimension: column-parallel weights and biases (output features), the grouped
     * QKV (whole query groups), and the vocabulary-parallel embedding and output layer.
     */
    ROWS,
    /** Contiguous blocks of the second dimension: row-parallel weights (input features). */
    COLUMNS,
    /** SwiGLU's fused [gate; up] rows: each rank takes the same block of the gate half and of the up half. */
    GATE_UP_ROWS;

    /** The local shape of a tensor of {@code full} shape on one of {@code tp} ranks. */
    public int[] localShape(int[] full, int tp, String name) {
        int[] s = full.clone();
        switch (this) {
            case REPLICATED -> {
            }
            case ROWS -> s[0] = divide(full[0], tp, name, "rows");
            case COLUMNS -> s[1] = divide(full[1], tp, name, "columns");
            case GATE_UP_ROWS -> {
                int half = full[0] / 2;
                s[0] = 2 * divide(half, tp, name, "gate/up rows");
            }
        }
        return s;
    }

    private static int divide(int n, int tp, String name, String what) {
        if (n % tp != 0) {
            throw new IllegalArgumentException(name + ": " + n + " " + what + " cannot be split over"
                    + " --tensor-model-parallel-size " + tp);
        }
        return n / tp;
    }

    /** Rank {@code rank}'s shard of {@code full} (row-major, shape {@code shape}). */
    public float[] shard(float[] full, int[] shape, int tp, int rank) {
        int rows = shape[0];
        int cols = shape.length > 1 ? shape[1] : 1;
        switch (this) {
            case REPLICATED:
                return full.clone();
            case ROWS: {
                int r = rows / tp;
                float[] out = new float[r * cols];
                System.arraycopy(full, rank * r * cols, out, 0, out.length);
                return out;
            }
            case COLUMNS: {
                int c = cols / tp;
                float[] out = new float[rows * c];
                for (int i = 0; i < rows; i++) {
                    System.arraycopy(full, i * cols + rank * c, out, i * c, c);
                }
                return out;
            }
            case GATE_UP_ROWS: {
                int half = rows / 2;
                int r = half / tp;
                float[] out = new float[2 * r * cols];
                System.arraycopy(full, rank * r * cols, out, 0, r * cols);
                System.arraycopy(full, (half + rank * r) * cols, out, r * cols, r * cols);
                return out;
            }
            default:
                throw new IllegalStateException();
        }
    }

    /** The full tensor from all ranks' shards (inverse of {@link #shard}). */
    public float[] gather(float[][] shards, int[] shape, int tp) {
        if (this == REPLICATED) {
            return shards[0].clone();
        }
        int rows = shape[0];
        int cols = shape.length > 1 ? shape[1] : 1;
        float[] full = new float[rows * cols];
        for (int rank = 0; rank < tp; rank++) {
            float[] s = shards[rank];
            switch (this) {
                case ROWS -> System.arraycopy(s, 0, full, rank * s.length, s.length);
                case COLUMNS -> {
                    int c = cols / tp;
                    for (int i = 0; i < rows; i++) {
                        System.arraycopy(s, i * c, full, i * cols + rank * c, c);
                    }
                }
                case GATE_UP_ROWS -> {
                    int half = rows / 2;
                    int r = half / tp;
                    System.arraycopy(s, 0, full, rank * r * cols, r * cols);
                    System.arraycopy(s, r * cols, full, (half + rank * r) * cols, r * cols);
                }
                default -> throw new IllegalStateException();
            }
        }
        return full;
    }
}
