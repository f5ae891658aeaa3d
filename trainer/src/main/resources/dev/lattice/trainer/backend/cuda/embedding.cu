// CPU references: EmbeddingKernels, VocabParallelKernels (embedding, positions).

// out[n, c] = wte[tokens[n], c] + wpe[n % T, c] (wpe may be null).
extern "C" __global__ void embedding_forward(float* out, const int* tokens, const float* wte, const float* wpe,
                                             int N, int T, int C) {
    i64 total = (i64) N * C;
    GRID_STRIDE(i, total) {
        int n = (int) (i / C), c = (int) (i % C);
        float v = wte[(i64) tokens[n] * C + c];
        if (wpe != nullptr) v += wpe[(i64) (n % T) * C + c];
        out[i] = v;
    }
}

// dwte[local row, c] += the sum of dout[n, c] over the rows n holding that token, in row order. The host groups
// the rows by token (CSR: uniq[u] = local row, rowStart[u]..rowStart[u+1] index rowsOf), so there are no atomics:
// deterministic, and the same order as the CPU reference.
extern "C" __global__ void embedding_backward_grouped(float* dwte, const float* dout, const int* uniq,
                                                      const int* rowStart, const int* rowsOf, int uniqCount, int C) {
    i64 total = (i64) uniqCount * C;
    GRID_STRIDE(i, total) {
        int u = (int) (i / C), c = (int) (i % C);
        float acc = 0.f;
        for (int k = rowStart[u]; k < rowStart[u + 1]; k++) acc += dout[(i64) rowsOf[k] * C + c];
        dwte[(i64) uniq[u] * C + c] += acc;
    }
}

// dwpe[t, c] += sum over b of dout[b, t, c], b in order.
extern "C" __global__ void position_backward(float* dwpe, const float* dout, int B, int T, int C) {
    i64 total = (i64) T * C;
    GRID_STRIDE(i, total) {
        int t = (int) (i / C), c = (int) (i % C);
        float acc = 0.f;
        for (int b = 0; b < B; b++) acc += dout[((i64) b * T + t) * C + c];
        dwpe[i] += acc;
    }
}

// out[n] = wteShard[tokens[n] - start] when the token falls in this shard, else 0.
extern "C" __global__ void vocab_parallel_embedding(float* out, const int* tokens, const float* wte, int start,
                                                    int count, int rows, int C) {
    i64 total = (i64) rows * C;
    GRID_STRIDE(i, total) {
        int n = (int) (i / C), c = (int) (i % C);
        int local = tokens[n] - start;
        out[i] = (local >= 0 && local < count) ? wte[(i64) local * C + c] : 0.f;
    }
}

// x[b, t] += wpe[t].
extern "C" __global__ void add_positions(float* x, const float* wpe, int rows, int T, int C) {
    i64 total = (i64) rows * C;
    GRID_STRIDE(i, total) {
        int n = (int) (i / C), c = (int) (i % C);
        x[i] += wpe[(i64) (n % T) * C + c];
    }
}
