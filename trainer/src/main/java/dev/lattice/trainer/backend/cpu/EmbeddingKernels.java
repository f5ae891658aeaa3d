package dev.lattice.trainer.backend.cpu;

/**
 * Token (+ optional learned position) embedding lookup, GPT-2 style.
 *
 * <p>Shapes: {@code tokens: int[N]} with {@code N = B*T}; {@code out, dout: [N, C]}; {@code wte, dwte:
 * [Vp, C]}; {@code wpe, dwpe: [P, C]} with {@code P >= T}, or null (e.g. Llama, which uses RoPE). Row
 * {@code n} has position {@code t = n % T}. Token ids must be in {@code [0, vocabRows)}; out-of-range ids throw
 * {@link IllegalArgumentException} naming the row and the id (checked before anything is written).
 */
public final class EmbeddingKernels {

    private EmbeddingKernels() {
    }

    /** {@code out[n] = wte[tokens[n]] + wpe[n % T]}, WRITTEN; vocabRows is taken as {@code wte.length / C}. */
    public static void forward(float[] out, int[] tokens, float[] wte, float[] wpe, int B, int T, int C) {
        forward(out, 0, tokens, 0, wte, 0, wte.length / C, wpe, 0, B, T, C);
    }

    /** Forward with offsets and an explicit row count of {@code wte}; {@code out} WRITTEN. */
    public static void forward(float[] out, int outOff, int[] tokens, int tokensOff, float[] wte, int wteOff,
                               int vocabRows, float[] wpe, int wpeOff, int B, int T, int C) {
        int N = B * T;
        checkTokens(tokens, tokensOff, N, vocabRows);
        Parallel.forRange(N, 2L * C, (from, to) -> {
            for (int n = from; n < to; n++) {
                int o0 = outOff + n * C;
                int w0 = wteOff + tokens[tokensOff + n] * C;
                if (wpe != null) {
                    int p0 = wpeOff + (n % T) * C;
                    for (int c = 0; c < C; c++) {
                        out[o0 + c] = wte[w0 + c] + wpe[p0 + c];
                    }
                } else {
                    System.arraycopy(wte, w0, out, o0, C);
                }
            }
        });
    }

    /**
     * Backward; {@code dwte} and {@code dwpe} (nullable) are ACCUMULATED. Parallel over column blocks, each
     * element summed over rows {@code n = 0..N-1} in order: deterministic even when tokens repeat.
     * vocabRows is taken as {@code dwte.length / C}.
     */
    public static void backward(float[] dwte, float[] dwpe, float[] dout, int[] tokens, int B, int T, int C) {
        backward(dwte, 0, dwte.length / C, dwpe, 0, dout, 0, tokens, 0, B, T, C);
    }

    /** Backward with offsets; outputs ACCUMULATED. */
    public static void backward(float[] dwte, int dwteOff, int vocabRows, float[] dwpe, int dwpeOff,
                                float[] dout, int doutOff, int[] tokens, int tokensOff, int B, int T, int C) {
        int N = B * T;
        checkTokens(tokens, tokensOff, N, vocabRows);
        Parallel.forRange(C, 2L * N, (c0, c1) -> {
            for (int n = 0; n < N; n++) {
                int g0 = doutOff + n * C;
                int w0 = dwteOff + tokens[tokensOff + n] * C;
                for (int c = c0; c < c1; c++) {
                    dwte[w0 + c] += dout[g0 + c];
                }
                if (dwpe != null) {
                    int p0 = dwpeOff + (n % T) * C;
                    for (int c = c0; c < c1; c++) {
                        dwpe[p0 + c] += dout[g0 + c];
                    }
                }
            }
        });
    }

    private static void checkTokens(int[] tokens, int off, int N, int vocabRows) {
        for (int n = 0; n < N; n++) {
            int id = tokens[off + n];
            if (id < 0 || id >= vocabRows) {
                throw new IllegalArgumentException("token id out of range at row " + n + ": id " + id
                        + " not in [0, " + vocabRows + ")");
            }
        }
    }
}
