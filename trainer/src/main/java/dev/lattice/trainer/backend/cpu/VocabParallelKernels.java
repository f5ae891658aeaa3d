package dev.lattice.trainer.backend.cpu;

/**
 * The pieces of embedding and cross-entropy when the vocabulary is split over tensor-parallel ranks (Megatron's
 * VocabParallelEmbedding and vocab_parallel_cross_entropy): each rank holds rows [start, start + count) of the
 * embedding / columns of the logits; partial results are combined by the caller's all-reduces, so the full
 * vocabulary never exists on one rank.
 */
public final class VocabParallelKernels {

    private VocabParallelKernels() {
    }

    /** out[n] = wte[tokens[n] − start] when the token is in this shard, else 0 (WRITTEN). */
    public static void embedding(float[] out, int[] tokens, float[] wte, int start, int count, int rows, int c) {
        Parallel.forRange(rows, c, (from, to) -> {
            for (int n = from; n < to; n++) {
                int local = tokens[n] - start;
                if (local >= 0 && local < count) {
                    System.arraycopy(wte, local * c, out, n * c, c);
                } else {
                    java.util.Arrays.fill(out, n * c, (n + 1) * c, 0f);
                }
            }
        });
    }

    /** dwte[tokens[n] − start] += dout[n] for tokens in this shard (ACCUMULATED, in row order: deterministic). */
    public static void embeddingBackward(float[] dwte, float[] dout, int[] tokens, int start, int count, int rows,
                                         int c) {
        for (int n = 0; n < rows; n++) {
            int local = tokens[n] - start;
            if (local >= 0 && local < count) {
                int d = local * c;
                int g = n * c;
                for (int j = 0; j < c; j++) {
                    dwte[d + j] += dout[g + j];
                }
            }
        }
    }

    /** x[b, t] += wpe[t] (WRITTEN in place). */
    public static void addPositions(float[] x, float[] wpe, int batch, int seq, int c) {
        Parallel.forRange(batch * seq, c, (from, to) -> {
            for (int n = from; n < to; n++) {
                int p = (n % seq) * c;
                int o = n * c;
                for (int j = 0; j < c; j++) {
                    x[o + j] += wpe[p + j];
                }
            }
        });
    }

    /** dwpe[t] += Σ_b dout[b, t] (ACCUMULATED; positions in parallel, batches in order). */
    public static void addPositionsBackward(float[] dwpe, float[] dout, int batch, int seq, int c) {
        Parallel.forRange(seq, (long) batch * c, (from, to) -> {
            for (int t = from; t < to; t++) {
                for (int b = 0; b < batch; b++) {
                    int o = (b * seq + t) * c;
                    for (int j = 0; j < c; j++) {
                        dwpe[t * c + j] += dout[o + j];
                    }
                }
            }
        });
    }

    /** Per row: max over the first {@code valid} columns (−inf when none), WRITTEN into max[rows]. */
    public static void rowMax(float[] max, float[] logits, int rows, int cols, int valid) {
        Parallel.forRange(rows, valid, (from, to) -> {
            for (int r = from; r < to; r++) {
                float m = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < valid; j++) {
                    m = Math.max(m, logits[r * cols + j]);
                }
                max[r] = m;
            }
        });
    }

    /** Per row: Σ exp(logit − max[row]) over the first {@code valid} columns, in double, WRITTEN into sum[rows]. */
    public static void rowSumExp(float[] sum, float[] logits, float[] max, int rows, int cols, int valid) {
        Parallel.forRange(rows, 20L * valid, (from, to) -> {
            for (int r = from; r < to; r++) {
                double s = 0;
                for (int j = 0; j < valid; j++) {
                    s += Math.exp(logits[r * cols + j] - max[r]);
                }
                sum[r] = (float) s;
            }
        });
    }

    /** Per row: the target's logit if the target is in [start, start + valid), else 0 (WRITTEN). */
    public static void targetLogit(float[] out, float[] logits, int[] targets, int start, int rows, int cols,
                                   int valid) {
        for (int r = 0; r < rows; r++) {
            int local = targets[r] - start;
            out[r] = local >= 0 && local < valid ? logits[r * cols + local] : 0f;
        }
    }

    /**
     * dlogits = (exp(logit − lse[row]) − [column is the target]) · dloss[row] over the valid columns, 0 elsewhere
     * (WRITTEN).
     */
    public static void crossEntropyBackward(float[] dlogits, float[] logits, float[] lse, int[] targets,
                                            float[] dloss, int start, int rows, int cols, int valid) {
        Parallel.forRange(rows, 20L * cols, (from, to) -> {
            for (int r = from; r < to; r++) {
                int base = r * cols;
                float w = dloss[r];
                if (w == 0f) {
                    java.util.Arrays.fill(dlogits, base, base + cols, 0f);
                    continue;
                }
                float l = lse[r];
                for (int j = 0; j < valid; j++) {
                    dlogits[base + j] = (float) Math.exp(logits[base + j] - l) * w;
                }
                java.util.Arrays.fill(dlogits, base + valid, base + cols, 0f);
                int local = targets[r] - start;
                if (local >= 0 && local < valid) {
                    dlogits[base + local] -= w;
                }
            }
        });
    }
}
