package dev.lattice.trainer.backend.cpu;

/**
 * Softmax cross-entropy over a padded vocabulary.
 *
 * <p>Shapes: {@code logits, dlogits: [N, Vp]} with {@code Vp >= V}; only columns {@code [0, V)} take part
 * (columns {@code >= V} are treated as {@code -inf}: they never affect the loss and get zero gradient);
 * {@code targets: int[N]} with every id in {@code [0, V)} (an ignored position must be given some valid id
 * and a zero {@code dlosses} weight); {@code losses, dlosses, lse: [N]}.
 *
 * <p>Per row the max is taken in float and {@code sum exp(x - max)}, {@code log} and the loss are computed
 * in double (then rounded to float), which keeps the loss accurate for 50k-200k vocabularies.
 * Targets are validated up front: out-of-range ids throw {@link IllegalArgumentException} naming the row
 * and the id, before anything is written.
 */
public final class CrossEntropyKernels {

    private CrossEntropyKernels() {
    }

    /** {@code losses[i] = -log softmax(logits[i, :V])[targets[i]]}, WRITTEN. */
    public static void forward(float[] losses, float[] logits, int[] targets, int N, int V, int Vp) {
        forward(losses, 0, null, 0, logits, 0, targets, 0, N, V, Vp);
    }

    /** As {@link #forward(float[], float[], int[], int, int, int)}, also WRITING the row log-sum-exp to
     * {@code lse} (nullable). */
    public static void forward(float[] losses, float[] lse, float[] logits, int[] targets, int N, int V, int Vp) {
        forward(losses, 0, lse, 0, logits, 0, targets, 0, N, V, Vp);
    }

    /** Forward with offsets; {@code losses} and {@code lse} (nullable) are WRITTEN. */
    public static void forward(float[] losses, int lossesOff, float[] lse, int lseOff, float[] logits,
                               int logitsOff, int[] targets, int targetsOff, int N, int V, int Vp) {
        checkTargets(targets, targetsOff, N, V, Vp);
        Parallel.forRange(N, 20L * V, (from, to) -> {
            for (int i = from; i < to; i++) {
                int r0 = logitsOff + i * Vp;
                double l = rowLse(logits, r0, V);
                losses[lossesOff + i] = (float) (l - logits[r0 + targets[targetsOff + i]]);
                if (lse != null) {
                    lse[lseOff + i] = (float) l;
                }
            }
        });
    }

    /**
     * Backward; {@code dlogits} is WRITTEN (all {@code Vp} columns): {@code dlogits[i, :V] =
     * (softmax(logits[i, :V]) - onehot(targets[i])) * dlosses[i]}, {@code dlogits[i, V:] = 0}. A row with
     * {@code dlosses[i] == 0} gets an all-zero gradient. {@code dlogits} may alias {@code logits} (same
     * offset): each row is read fully before it is written.
     */
    public static void backward(float[] dlogits, float[] logits, int[] targets, float[] dlosses, int N, int V, int Vp) {
        backward(dlogits, 0, logits, 0, null, 0, targets, 0, dlosses, 0, N, V, Vp);
    }

    /**
     * Backward with offsets and an optional {@code lse} from the forward (nullable: recomputed from the
     * logits). {@code dlogits} WRITTEN.
     */
    public static void backward(float[] dlogits, int dlogitsOff, float[] logits, int logitsOff, float[] lse,
                                int lseOff, int[] targets, int targetsOff, float[] dlosses, int dlossesOff,
                                int N, int V, int Vp) {
        checkTargets(targets, targetsOff, N, V, Vp);
        Parallel.forRange(N, 20L * Vp, (from, to) -> {
            for (int i = from; i < to; i++) {
                int r0 = logitsOff + i * Vp;
                int d0 = dlogitsOff + i * Vp;
                float w = dlosses[dlossesOff + i];
                if (w == 0f) {
                    java.util.Arrays.fill(dlogits, d0, d0 + Vp, 0f);
                    continue;
                }
                double l = lse != null ? lse[lseOff + i] : rowLse(logits, r0, V);
                int tgt = targets[targetsOff + i];
                for (int c = 0; c < V; c++) {
                    float p = (float) Math.exp(logits[r0 + c] - l);
                    dlogits[d0 + c] = (c == tgt ? p - 1f : p) * w;
                }
                for (int c = V; c < Vp; c++) {
                    dlogits[d0 + c] = 0f;
                }
            }
        });
    }

    private static double rowLse(float[] logits, int r0, int V) {
        float max = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < V; c++) {
            float x = logits[r0 + c];
            if (x > max) {
                max = x;
            }
        }
        double sum = 0.0;
        for (int c = 0; c < V; c++) {
            sum += Math.exp((double) logits[r0 + c] - max);
        }
        return max + Math.log(sum);
    }

    private static void checkTargets(int[] targets, int off, int N, int V, int Vp) {
        if (V <= 0 || Vp < V) {
            throw new IllegalArgumentException("need 0 < V <= Vp, got V=" + V + ", Vp=" + Vp);
        }
        for (int i = 0; i < N; i++) {
            int t = targets[off + i];
            if (t < 0 || t >= V) {
                throw new IllegalArgumentException("cross-entropy target out of range at row " + i + ": id " + t
                        + " not in [0, " + V + ")");
            }
        }
    }
}
