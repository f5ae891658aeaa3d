// CPU references: CrossEntropyKernels (whole vocabulary on one rank), VocabParallelKernels (a vocabulary shard).
// One block per row. The softmax is never stored: the backward recomputes exp(logit - lse) from the saved lse.
// Logits and their gradient may be bf16 (LD/ST); losses, lse and the statistics are fp32.

// losses[r] = lse - logits[r, target]; lse saved. Columns >= V (padding) are masked out.
extern "C" __global__ void cross_entropy_forward(float* losses, float* lse, const void* logits, const int* targets,
                                                 int N, int V, int Vp, int bf) {
    int r = blockIdx.x;
    if (r >= N) return;
    const i64 x0 = (i64) r * Vp;
    float m = -INFINITY;
    for (int c = threadIdx.x; c < V; c += blockDim.x) m = fmaxf(m, LD(logits, x0 + c, 2));
    m = block_max(m);
    float s = 0.f;
    for (int c = threadIdx.x; c < V; c += blockDim.x) s += expf(LD(logits, x0 + c, 2) - m);
    s = block_sum(s);
    if (threadIdx.x == 0) {
        float l = m + logf(s);
        lse[r] = l;
        losses[r] = l - LD(logits, x0 + targets[r], 2);
    }
}

// dlogits = (softmax - onehot) * dlosses[r]; padding columns 0. WRITTEN.
extern "C" __global__ void cross_entropy_backward(void* dlogits, const void* logits, const float* lse,
                                                  const int* targets, const float* dlosses, int N, int V, int Vp,
                                                  int bf) {
    int r = blockIdx.x;
    if (r >= N) return;
    const i64 x0 = (i64) r * Vp;
    float w = dlosses[r], l = lse[r];
    int tgt = targets[r];
    for (int c = threadIdx.x; c < Vp; c += blockDim.x) {
        float v = 0.f;
        if (w != 0.f && c < V) v = (expf(LD(logits, x0 + c, 1) - l) - (c == tgt ? 1.f : 0.f)) * w;
        ST(dlogits, x0 + c, 0, v);
    }
}

extern "C" __global__ void logits_row_max(float* mx, const void* logits, int rows, int cols, int valid, int bf) {
    int r = blockIdx.x;
    if (r >= rows) return;
    float m = -INFINITY;
    for (int c = threadIdx.x; c < valid; c += blockDim.x) m = fmaxf(m, LD(logits, (i64) r * cols + c, 1));
    m = block_max(m);
    if (threadIdx.x == 0) mx[r] = m;
}

extern "C" __global__ void logits_row_sum_exp(float* sum, const void* logits, const float* mx, int rows, int cols,
                                              int valid, int bf) {
    int r = blockIdx.x;
    if (r >= rows) return;
    float m = mx[r], s = 0.f;
    for (int c = threadIdx.x; c < valid; c += blockDim.x) s += expf(LD(logits, (i64) r * cols + c, 1) - m);
    s = block_sum(s);
    if (threadIdx.x == 0) sum[r] = s;
}

extern "C" __global__ void logits_target(float* out, const void* logits, const int* targets, int start, int rows,
                                         int cols, int valid, int bf) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    int local = targets[r] - start;
    out[r] = (local >= 0 && local < valid) ? LD(logits, (i64) r * cols + local, 1) : 0.f;
}

// A vocabulary shard's gradient from the global lse: exp(logit - lse) * w, minus w at the target if it is here.
extern "C" __global__ void vocab_parallel_ce_backward(void* dlogits, const void* logits, const float* lse,
                                                      const int* targets, const float* dlosses, int start, int rows,
                                                      int cols, int valid, int bf) {
    int r = blockIdx.x;
    if (r >= rows) return;
    float w = dlosses[r], l = lse[r];
    int local = targets[r] - start;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = 0.f;
        if (w != 0.f && c < valid) v = expf(LD(logits, (i64) r * cols + c, 1) - l) * w - (c == local ? w : 0.f);
        ST(dlogits, (i64) r * cols + c, 0, v);
    }
}

// 2^x in one MUFU instruction (what __expf uses after scaling its argument by log2 e): the exponentials below fold
// that scaling and the shift into one FFMA, exp(x - m) = ex2(x·log2e − m·log2e).
__device__ __forceinline__ float ex2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#define CE_LOG2E 1.4426950408889634f

// The log-sum-exp of the row of V logits at x0, with 16-byte loads and one pass: an online max and rescaled sum per
// thread, combined over the block (every thread gets it; the forward and the fused kernels share it, so their values
// are the same bits). Per chunk of eight columns: their max, one rescale of the running sum when it grows, then eight
// exponentials of an FFMA each, no branch per column (session 6, call L, H200: the per-column branch and rescale
// kept the kernel instruction-bound; 1.76 → 1.36 ms a step at 124M, for ~0.7 ms of memory traffic). Columns from V on
// (padding) count as −∞.
__device__ float row_lse_vec(const void* logits, i64 x0, bool half, int V) {
    float m = -INFINITY, s = 0.f; // running max and Σ exp(x − m) of this thread's columns
    for (int c = threadIdx.x * 8; c < V; c += blockDim.x * 8) {
        float x[8];
        load8(logits, x0 + c, half, x);
        if (c + 8 > V) {
#pragma unroll
            for (int k = 0; k < 8; k++) if (c + k >= V) x[k] = -INFINITY;
        }
        float cm = x[0];
#pragma unroll
        for (int k = 1; k < 8; k++) cm = fmaxf(cm, x[k]);
        if (cm > m) {
            s *= ex2_approx((m - cm) * CE_LOG2E); // 0 while m is −∞ (s is 0 then too)
            m = cm;
        }
        const float m2 = m == -INFINITY ? 0.f : m * CE_LOG2E; // all −∞ so far: each term is ex2(−∞) = 0, not NaN
        float cs = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) cs += ex2_approx(fmaf(x[k], CE_LOG2E, -m2));
        s += cs;
    }
    float mb = block_max(m);
    s = m == -INFINITY ? 0.f : s * ex2_approx((m - mb) * CE_LOG2E);
    s = block_sum(s);
    return mb + logf(s);
}

// The loss gradient of the eight columns from c of a row with log-sum-exp l, target tgt and weight w:
// exp(x − l)·w, minus w at the target; 0 past V and for w == 0, when x is not read. The target is looked for once a
// chunk, not once a column.
__device__ __forceinline__ void ce_grad8(float* d, const float* x, int c, int V, int tgt, float l, float w) {
    if (w == 0.f) {
#pragma unroll
        for (int k = 0; k < 8; k++) d[k] = 0.f;
        return;
    }
    const float l2 = l * CE_LOG2E;
#pragma unroll
    for (int k = 0; k < 8; k++) d[k] = ex2_approx(fmaf(x[k], CE_LOG2E, -l2)) * w;
    if ((unsigned) (tgt - c) < 8u) {
#pragma unroll
        for (int k = 0; k < 8; k++) if (c + k == tgt) d[k] -= w;
    }
    if (c + 8 > V) {
#pragma unroll
        for (int k = 0; k < 8; k++) if (c + k >= V) d[k] = 0.f;
    }
}

// cross_entropy_forward with 16-byte loads and one pass (row_lse_vec): for padded widths Vp % 8 == 0. Same CPU
// reference; the sum's order differs from the two-pass kernel's (rounding only).
extern "C" __global__ void cross_entropy_forward_vec(float* losses, float* lse, const void* logits,
                                                     const int* targets, int N, int V, int Vp, int bf) {
    int r = blockIdx.x;
    if (r >= N) return;
    const i64 x0 = (i64) r * Vp;
    const float l = row_lse_vec(logits, x0, IS_BF(2), V);
    if (threadIdx.x == 0) {
        lse[r] = l;
        losses[r] = l - LD(logits, x0 + targets[r], 2);
    }
}

// cross_entropy_backward with 16-byte loads and stores (Vp % 8 == 0); the same value per element.
extern "C" __global__ void cross_entropy_backward_vec(void* dlogits, const void* logits, const float* lse,
                                                      const int* targets, const float* dlosses, int N, int V, int Vp,
                                                      int bf) {
    int r = blockIdx.x;
    if (r >= N) return;
    const i64 x0 = (i64) r * Vp;
    float w = dlosses[r], l = lse[r];
    int tgt = targets[r];
    for (int c = threadIdx.x * 8; c < Vp; c += blockDim.x * 8) {
        float x[8], d[8];
        if (w != 0.f) load8(logits, x0 + c, IS_BF(1), x);
        ce_grad8(d, x, c, V, tgt, l, w);
        store8(dlogits, x0 + c, IS_BF(0), d);
    }
}

// cross_entropy_forward_vec then cross_entropy_backward_vec with dlogits = logits, per row in one block (Vp % 8 == 0;
// Backend.crossEntropyForwardBackward, CPU reference: its default, the two kernels' references in turn). The target's
// logit is read before any thread overwrites the row.
extern "C" __global__ void cross_entropy_fused_vec(float* losses, float* lse, void* logits, const int* targets,
                                                   const float* dlosses, int N, int V, int Vp, int bf) {
    int r = blockIdx.x;
    if (r >= N) return;
    const i64 x0 = (i64) r * Vp;
    const bool half = IS_BF(2);
    const int tgt = targets[r];
    const float targetLogit = LD(logits, x0 + tgt, 2); // every thread, before the barriers in row_lse_vec
    const float l = row_lse_vec(logits, x0, half, V);
    if (threadIdx.x == 0) {
        lse[r] = l;
        losses[r] = l - targetLogit;
    }
    const float w = dlosses[r];
    for (int c = threadIdx.x * 8; c < Vp; c += blockDim.x * 8) {
        float x[8], d[8];
        if (w != 0.f) load8(logits, x0 + c, half, x);
        ce_grad8(d, x, c, V, tgt, l, w);
        store8(logits, x0 + c, half, d);
    }
}
