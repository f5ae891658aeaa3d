// CPU references: EmbeddingKernels, VocabParallelKernels (embedding, positions). Tensors fp32 or bf16 (LD/ST).

// out[n, c] = wte[tokens[n], c] + wpe[n % T, c] (wpe may be null).
extern "C" __global__ void embedding_forward(void* out, const int* tokens, const void* wte, const void* wpe, int N,
                                             int T, int C, int bf) {
    i64 total = (i64) N * C;
    GRID_STRIDE(i, total) {
        int n = (int) (i / C), c = (int) (i % C);
        float v = LD(wte, (i64) tokens[n] * C + c, 2);
        if (wpe != nullptr) v += LD(wpe, (i64) (n % T) * C + c, 3);
        ST(out, i, 0, v);
    }
}

// dwte[local row, c] += the sum of dout[n, c] over the rows n holding that token, in row order. The host groups
// the rows by token (CSR: uniq[u] = local row, rowStart[u]..rowStart[u+1] index rowsOf), so there are no atomics:
// deterministic, and the same order as the CPU reference.
extern "C" __global__ void embedding_backward_grouped(void* dwte, const void* dout, const int* uniq,
                                                      const int* rowStart, const int* rowsOf, int uniqCount, int C,
                                                      int bf) {
    i64 total = (i64) uniqCount * C;
    GRID_STRIDE(i, total) {
        int u = (int) (i / C), c = (int) (i % C);
        float acc = 0.f;
        for (int k = rowStart[u]; k < rowStart[u + 1]; k++) acc += LD(dout, (i64) rowsOf[k] * C + c, 1);
        i64 w = (i64) uniq[u] * C + c;
        ST(dwte, w, 0, LD(dwte, w, 0) + acc);
    }
}

// dwpe[t, c] += sum over b of dout[b, t, c], b in order.
extern "C" __global__ void position_backward(void* dwpe, const void* dout, int B, int T, int C, int bf) {
    i64 total = (i64) T * C;
    GRID_STRIDE(i, total) {
        int t = (int) (i / C), c = (int) (i % C);
        float acc = 0.f;
        for (int b = 0; b < B; b++) acc += LD(dout, ((i64) b * T + t) * C + c, 1);
        ST(dwpe, i, 0, LD(dwpe, i, 0) + acc);
    }
}

// out[n] = wteShard[tokens[n] - start] when the token falls in this shard, else 0.
extern "C" __global__ void vocab_parallel_embedding(void* out, const int* tokens, const void* wte, int start,
                                                    int count, int rows, int C, int bf) {
    i64 total = (i64) rows * C;
    GRID_STRIDE(i, total) {
        int n = (int) (i / C), c = (int) (i % C);
        int local = tokens[n] - start;
        ST(out, i, 0, (local >= 0 && local < count) ? LD(wte, (i64) local * C + c, 2) : 0.f);
    }
}

// x[b, t] += wpe[t].
extern "C" __global__ void add_positions(void* x, const void* wpe, int rows, int T, int C, int bf) {
    i64 total = (i64) rows * C;
    GRID_STRIDE(i, total) {
        int n = (int) (i / C), c = (int) (i % C);
        ST(x, i, 0, LD(x, i, 0) + LD(wpe, (i64) (n % T) * C + c, 1));
    }
}
