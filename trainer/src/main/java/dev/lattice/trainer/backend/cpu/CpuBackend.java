package dev.lattice.trainer.backend.cpu;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;

import java.util.Arrays;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

/**
 * The reference backend: GEMM through OpenBLAS ({@code org.bytedeco:openblas}), everything else in multi-threaded
 * Java (the kernel classes of this package, each the CPU reference its CUDA kernel must match). Attention runs its
 * products in OpenBLAS too ({@link BlasAttention}, held to the scalar {@link AttentionKernels}). Operations run
 * inline, so the "stream" is the calling thread.
 */
public final class CpuBackend implements Backend {

    @Override
    public String name() {
        return "cpu";
    }

    static float[] d(Tensor t) {
        return ((CpuTensor) t).data;
    }

    private static int n(Tensor t) {
        return Math.toIntExact(t.numel());
    }

    @Override
    public Tensor zeros(int... shape) {
        long numel = 1;
        for (int s : shape) {
            numel = Math.multiplyExact(numel, s);
        }
        return new CpuTensor(new float[Math.toIntExact(numel)], shape);
    }

    @Override
    public Tensor fromHost(float[] data, int... shape) {
        return new CpuTensor(data.clone(), shape);
    }

    @Override
    public float[] toHost(Tensor t) {
        return d(t).clone();
    }

    @Override
    public void upload(Tensor t, float[] data) {
        if (data.length != t.numel()) {
            throw new IllegalArgumentException("uploading " + data.length + " floats into " + t);
        }
        System.arraycopy(data, 0, d(t), 0, data.length);
    }

    /**
     * Nothing to hand back on the host; the tensor is overwritten with NaN instead, as a reused GPU block would be
     * overwritten by its next tensor, so that every CPU run checks that a recycled tensor is really dead.
     */
    @Override
    public void recycle(Tensor t) {
        fill(t, Float.NaN);
    }

    @Override
    public void fill(Tensor t, float value) {
        Arrays.fill(d(t), value);
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        System.arraycopy(d(src), 0, d(dst), 0, n(src));
    }

    @Override
    public void copyRange(Tensor dst, long dstOff, Tensor src, long srcOff, long count) {
        System.arraycopy(d(src), Math.toIntExact(srcOff), d(dst), Math.toIntExact(dstOff), Math.toIntExact(count));
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, int m, int n, int k, float alpha,
                       float beta) {
        if ((long) m * k > a.numel() || (long) k * n > b.numel() || (long) m * n > c.numel()) {
            throw new IllegalArgumentException("matmul " + m + "x" + k + " · " + k + "x" + n + " does not fit "
                    + a + ", " + b + ", " + c);
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, d(a), transA ? m : k, d(b), transB ? k : n, beta, d(c), n);
    }

    @Override
    public void matmulStridedBatched(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, int m, int n,
                                     int k, float alpha, float beta, int batch, long strideA, long strideB,
                                     long strideC) {
        if (batch > 0 && ((batch - 1) * strideA + (long) m * k > a.numel()
                || (batch - 1) * strideB + (long) k * n > b.numel() || (batch - 1) * strideC + (long) m * n > c.numel())) {
            throw new IllegalArgumentException("strided batched matmul of " + batch + " × " + m + "x" + k + " · " + k
                    + "x" + n + " does not fit " + a + ", " + b + ", " + c);
        }
        // OpenBLAS is handed whole arrays only (offsets through heap buffers crash it), so each matrix is copied
        // into scratch arrays first.
        float[] sa = new float[m * k];
        float[] sb = new float[k * n];
        float[] sc = new float[m * n];
        float[] da = d(a);
        float[] db = d(b);
        float[] dc = d(c);
        for (int i = 0; i < batch; i++) {
            System.arraycopy(da, Math.toIntExact(i * strideA), sa, 0, sa.length);
            System.arraycopy(db, Math.toIntExact(i * strideB), sb, 0, sb.length);
            int offC = Math.toIntExact(i * strideC);
            System.arraycopy(dc, offC, sc, 0, sc.length);
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n,
                    k, alpha, sa, transA ? m : k, sb, transB ? k : n, beta, sc, n);
            System.arraycopy(sc, 0, dc, offC, sc.length);
        }
    }

    @Override
    public void castToBf16(Tensor dst, Tensor src) {
        float[] s = d(src);
        float[] o = d(dst);
        for (int i = 0; i < s.length; i++) {
            o[i] = Bf16.round(s[i]);
        }
    }

    @Override
    public void addBias(Tensor out, Tensor bias, int rows, int cols) {
        float[] o = d(out);
        float[] b = d(bias);
        Parallel.forRange(rows, cols, (from, to) -> {
            for (int r = from; r < to; r++) {
                int base = r * cols;
                for (int c = 0; c < cols; c++) {
                    o[base + c] += b[c];
                }
            }
        });
    }

    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int rows, int cols) {
        float[] db = d(dbias);
        float[] g = d(dout);
        // Blocks of columns in parallel, rows in order inside each: every sum runs over rows in the same order
        // whatever the thread count (deterministic), and memory is read row by row.
        int block = 64;
        int blocks = (cols + block - 1) / block;
        Parallel.forRange(blocks, (long) rows * block, (from, to) -> {
            float[] acc = new float[block];
            for (int bl = from; bl < to; bl++) {
                int c0 = bl * block;
                int w = Math.min(block, cols - c0);
                java.util.Arrays.fill(acc, 0f);
                for (int r = 0; r < rows; r++) {
                    int base = r * cols + c0;
                    for (int c = 0; c < w; c++) {
                        acc[c] += g[base + c];
                    }
                }
                for (int c = 0; c < w; c++) {
                    db[c0 + c] += acc[c];
                }
            }
        });
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        ResidualKernels.add(d(out), d(a), d(b), n(out));
    }

    @Override
    public void accumulate(Tensor y, Tensor x) {
        ResidualKernels.accumulate(d(y), d(x), n(y));
    }

    @Override
    public void scale(Tensor x, float s) {
        AdamWKernels.scale(d(x), 0, n(x), s);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return AdamWKernels.sumOfSquares(d(x), 0, n(x));
    }

    @Override
    public double sumOfSquares(Tensor x, long off, long count) {
        return AdamWKernels.sumOfSquares(d(x), Math.toIntExact(off), Math.toIntExact(count));
    }

    @Override
    public void scale(Tensor x, long off, long count, float s) {
        AdamWKernels.scale(d(x), Math.toIntExact(off), Math.toIntExact(count), s);
    }

    @Override
    public void adamW(Tensor param, long paramOff, Tensor grad, long gradOff, Tensor m, Tensor v, long stateOff,
                      long count, double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        int so = Math.toIntExact(stateOff);
        AdamWKernels.update(d(param), Math.toIntExact(paramOff), d(grad), Math.toIntExact(gradOff), d(m), so, d(v),
                so, Math.toIntExact(count), lr, beta1, beta2, eps, weightDecay, step);
    }

    @Override
    public boolean hasNonFinite(Tensor x) {
        for (float v : d(x)) {
            if (!Float.isFinite(v)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void embeddingForward(Tensor out, int[] tokens, Tensor wte, Tensor wpe, int batch, int seq, int channels) {
        EmbeddingKernels.forward(d(out), tokens, d(wte), wpe == null ? null : d(wpe), batch, seq, channels);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int batch, int seq,
                                  int channels) {
        EmbeddingKernels.backward(d(dwte), dwpe == null ? null : d(dwpe), d(dout), tokens, batch, seq, channels);
    }

    @Override
    public void vocabParallelEmbedding(Tensor out, int[] tokens, Tensor wteShard, int start, int count, int rows,
                                       int channels) {
        VocabParallelKernels.embedding(d(out), tokens, d(wteShard), start, count, rows, channels);
    }

    @Override
    public void vocabParallelEmbeddingBackward(Tensor dwteShard, Tensor dout, int[] tokens, int start, int count,
                                               int rows, int channels) {
        VocabParallelKernels.embeddingBackward(d(dwteShard), d(dout), tokens, start, count, rows, channels);
    }

    @Override
    public void addPositionEmbedding(Tensor x, Tensor wpe, int batch, int seq, int channels) {
        VocabParallelKernels.addPositions(d(x), d(wpe), batch, seq, channels);
    }

    @Override
    public void addPositionEmbeddingBackward(Tensor dwpe, Tensor dout, int batch, int seq, int channels) {
        VocabParallelKernels.addPositionsBackward(d(dwpe), d(dout), batch, seq, channels);
    }

    @Override
    public void logitsRowMax(Tensor max, Tensor logits, int rows, int cols, int valid) {
        VocabParallelKernels.rowMax(d(max), d(logits), rows, cols, valid);
    }

    @Override
    public void logitsRowSumExp(Tensor sum, Tensor logits, Tensor max, int rows, int cols, int valid) {
        VocabParallelKernels.rowSumExp(d(sum), d(logits), d(max), rows, cols, valid);
    }

    @Override
    public void logitsTarget(Tensor out, Tensor logits, int[] targets, int start, int rows, int cols, int valid) {
        VocabParallelKernels.targetLogit(d(out), d(logits), targets, start, rows, cols, valid);
    }

    @Override
    public void vocabParallelCrossEntropyBackward(Tensor dlogits, Tensor logits, Tensor lse, int[] targets,
                                                  float[] dlosses, int start, int rows, int cols, int valid) {
        VocabParallelKernels.crossEntropyBackward(d(dlogits), d(logits), d(lse), targets, dlosses, start, rows, cols,
                valid);
    }

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int rows, int cols, float eps) {
        LayerNormKernels.forward(d(out), d(mean), d(rstd), d(inp), d(weight), d(bias), rows, cols, eps);
    }

    @Override
    public void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                                  Tensor mean, Tensor rstd, int rows, int cols) {
        LayerNormKernels.backward(d(dinp), d(dweight), d(dbias), d(dout), d(inp), d(weight), d(mean), d(rstd), rows,
                cols);
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, int rows, int cols, float eps) {
        RmsNormKernels.forward(d(out), d(rstd), d(inp), d(weight), rows, cols, eps);
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd,
                                int rows, int cols) {
        RmsNormKernels.backward(d(dinp), d(dweight), d(dout), d(inp), d(weight), d(rstd), rows, cols);
    }

    @Override
    public void geluForward(Tensor out, Tensor inp) {
        GeluKernels.forward(d(out), d(inp), n(inp));
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor inp, Tensor dout) {
        GeluKernels.backward(d(dinp), d(inp), d(dout), n(inp));
    }

    @Override
    public void swigluForward(Tensor out, Tensor inp, int rows, int ffn) {
        SwiGluKernels.forward(d(out), d(inp), rows, ffn);
    }

    @Override
    public void swigluBackward(Tensor dinp, Tensor inp, Tensor dout, int rows, int ffn) {
        SwiGluKernels.backward(d(dinp), d(inp), d(dout), rows, ffn);
    }

    @Override
    public void ropeForward(Tensor qkv, int batch, int seq, int heads, int groups, int headDim, float theta) {
        RopeKernels.forward(d(qkv), batch, seq, heads, groups, headDim, theta);
    }

    @Override
    public void ropeBackward(Tensor dqkv, int batch, int seq, int heads, int groups, int headDim, float theta) {
        RopeKernels.backward(d(dqkv), batch, seq, heads, groups, headDim, theta);
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor qkv, int batch, int seq, int heads, int groups,
                                 int headDim) {
        BlasAttention.forward(d(out), d(lse), d(qkv), batch, seq, heads, groups, headDim);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int batch, int seq,
                                  int heads, int groups, int headDim) {
        BlasAttention.backward(d(dqkv), d(dout), d(qkv), d(out), d(lse), batch, seq, heads, groups, headDim);
    }

    @Override
    public void crossEntropyForward(Tensor losses, Tensor lse, Tensor logits, int[] targets, int rows, int vocab,
                                    int paddedVocab) {
        CrossEntropyKernels.forward(d(losses), d(lse), d(logits), targets, rows, vocab, paddedVocab);
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor lse, int[] targets, float[] dlosses,
                                     int rows, int vocab, int paddedVocab) {
        CrossEntropyKernels.backward(d(dlogits), 0, d(logits), 0, d(lse), 0, targets, 0, dlosses, 0, rows, vocab,
                paddedVocab);
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                      double eps, double weightDecay, long step) {
        AdamWKernels.update(d(param), d(grad), d(m), d(v), n(param), lr, beta1, beta2, eps, weightDecay, step);
    }

    @Override
    public void close() {
    }
}
