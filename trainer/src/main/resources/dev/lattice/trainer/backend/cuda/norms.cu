// CPU references: LayerNormKernels, RmsNormKernels. One block per row for the row-wise parts; the weight/bias
// gradients as per-chunk column partials finished in chunk order (deterministic). Tensors fp32 or bf16 (LD/ST);
// statistics (mean, rstd) and partials are fp32.

extern "C" __global__ void layernorm_forward(void* out, float* mean, float* rstd, const void* inp,
                                             const void* weight, const void* bias, int N, int C, float eps, int bf) {
    int row = blockIdx.x;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float s = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += LD(inp, x0 + c, 3);
    float m = block_sum(s) / C;
    float v = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) { float d = LD(inp, x0 + c, 3) - m; v += d * d; }
    float var = block_sum(v) / C;
    float r = 1.0f / sqrtf(var + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        ST(out, x0 + c, 0, (LD(inp, x0 + c, 3) - m) * r * LD(weight, c, 4) + LD(bias, c, 5));
    if (threadIdx.x == 0) { mean[row] = m; rstd[row] = r; }
}

extern "C" __global__ void layernorm_backward_input(void* dinp, const void* dout, const void* inp,
                                                    const void* weight, const float* mean, const float* rstd,
                                                    int N, int C, int bf) {
    int row = blockIdx.x;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float m = mean[row], r = rstd[row];
    float a = 0.f, b = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float n = (LD(inp, x0 + c, 2) - m) * r;
        float dn = LD(weight, c, 3) * LD(dout, x0 + c, 1);
        a += dn;
        b += dn * n;
    }
    float dnMean = block_sum(a) / C;
    float dnNormMean = block_sum(b) / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float n = (LD(inp, x0 + c, 2) - m) * r;
        float dn = LD(weight, c, 3) * LD(dout, x0 + c, 1);
        ST(dinp, x0 + c, 0, LD(dinp, x0 + c, 0) + (dn - dnMean - n * dnNormMean) * r);
    }
}

// Partials of dweight[c] = sum_r norm[r, c] dout[r, c] and dbias[c] = sum_r dout[r, c] over chunk blockIdx.y of
// the rows (pw, pb: [chunks, C]); add_column_partials finishes them in chunk order.
extern "C" __global__ void layernorm_backward_params_partial(float* pw, float* pb, const void* dout,
                                                             const void* inp, const float* mean,
                                                             const float* rstd, int N, int C, int rowsPerChunk,
                                                             int bf) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(N, r0 + rowsPerChunk);
    float dw = 0.f, db = 0.f;
    for (int r = r0; r < r1; r++) {
        float g = LD(dout, (i64) r * C + c, 2);
        dw += (LD(inp, (i64) r * C + c, 3) - mean[r]) * rstd[r] * g;
        db += g;
    }
    pw[(i64) blockIdx.y * C + c] = dw;
    pb[(i64) blockIdx.y * C + c] = db;
}

extern "C" __global__ void rmsnorm_forward(void* out, float* rstd, const void* inp, const void* weight, int N, int C,
                                           float eps, int bf) {
    int row = blockIdx.x;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float s = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) { float x = LD(inp, x0 + c, 2); s += x * x; }
    float r = 1.0f / sqrtf(block_sum(s) / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) ST(out, x0 + c, 0, LD(weight, c, 3) * (LD(inp, x0 + c, 2) * r));
    if (threadIdx.x == 0) rstd[row] = r;
}

extern "C" __global__ void rmsnorm_backward_input(void* dinp, const void* dout, const void* inp,
                                                  const void* weight, const float* rstd, int N, int C, int bf) {
    int row = blockIdx.x;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float r = rstd[row];
    float a = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        a += LD(weight, c, 3) * LD(dout, x0 + c, 1) * (LD(inp, x0 + c, 2) * r);
    float dot = block_sum(a) / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float n = LD(inp, x0 + c, 2) * r;
        ST(dinp, x0 + c, 0, LD(dinp, x0 + c, 0) + (LD(weight, c, 3) * LD(dout, x0 + c, 1) - n * dot) * r);
    }
}

extern "C" __global__ void rmsnorm_backward_weight_partial(float* pw, const void* dout, const void* inp,
                                                           const float* rstd, int N, int C, int rowsPerChunk,
                                                           int bf) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(N, r0 + rowsPerChunk);
    float dw = 0.f;
    for (int r = r0; r < r1; r++) dw += LD(dout, (i64) r * C + c, 1) * (LD(inp, (i64) r * C + c, 2) * rstd[r]);
    pw[(i64) blockIdx.y * C + c] = dw;
}

// layernorm_forward with one warp per row and 16-byte accesses (C % 8 == 0): no block-wide barriers, the row's
// re-reads served by L1. Same CPU reference and formulas; the sums' order differs (rounding only).
extern "C" __global__ void layernorm_forward_warp(void* out, float* mean, float* rstd, const void* inp,
                                                  const void* weight, const void* bias, int N, int C, float eps,
                                                  int bf) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return; // the whole warp leaves together
    const i64 x0 = (i64) row * C;
    float s = 0.f;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8];
        load8(inp, x0 + c, IS_BF(3), x);
#pragma unroll
        for (int k = 0; k < 8; k++) s += x[k];
    }
    float m = warp_sum(s) / C;
    float v = 0.f;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8];
        load8(inp, x0 + c, IS_BF(3), x);
#pragma unroll
        for (int k = 0; k < 8; k++) { float d = x[k] - m; v += d * d; }
    }
    float r = 1.0f / sqrtf(warp_sum(v) / C + eps);
    for (int c = lane * 8; c < C; c += 256) {
        float x[8], w[8], b[8], o[8];
        load8(inp, x0 + c, IS_BF(3), x);
        load8(weight, c, IS_BF(4), w);
        load8(bias, c, IS_BF(5), b);
#pragma unroll
        for (int k = 0; k < 8; k++) o[k] = (x[k] - m) * r * w[k] + b[k];
        store8(out, x0 + c, IS_BF(0), o);
    }
    if (lane == 0) { mean[row] = m; rstd[row] = r; }
}

// Eight columns of one row of LayerNorm backward, pass 1: the row's sums a += w g and b += w g n (n the normalized
// input) and the lane's weight and bias gradient sums dw += n g, db += g.
__device__ __forceinline__ void ln_bwd_sums8(const float* x, const float* g, const float* w, float m, float r,
                                             float& a, float& b, float* dw, float* db) {
#pragma unroll
    for (int k = 0; k < 8; k++) {
        float nk = (x[k] - m) * r;
        float dn = w[k] * g[k];
        a += dn;
        b += dn * nk;
        dw[k] += nk * g[k];
        db[k] += g[k];
    }
}

// Pass 2: the input gradient d += (w g - mean(w g) - n mean(w g n)) r for eight columns.
__device__ __forceinline__ void ln_bwd_input8(const float* x, const float* g, const float* w, float m, float r,
                                              float dnMean, float dnNormMean, float* d) {
#pragma unroll
    for (int k = 0; k < 8; k++) {
        float nk = (x[k] - m) * r;
        d[k] += (w[k] * g[k] - dnMean - nk * dnNormMean) * r;
    }
}

// layernorm_backward_input, one warp per row with 16-byte accesses (C % 8 == 0); accumulates into dinp.
extern "C" __global__ void layernorm_backward_input_warp(void* dinp, const void* dout, const void* inp,
                                                         const void* weight, const float* mean, const float* rstd,
                                                         int N, int C, int bf) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float m = mean[row], r = rstd[row];
    float a = 0.f, b = 0.f;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8], g[8], w[8];
        load8(inp, x0 + c, IS_BF(2), x);
        load8(dout, x0 + c, IS_BF(1), g);
        load8(weight, c, IS_BF(3), w);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float n = (x[k] - m) * r;
            float dn = w[k] * g[k];
            a += dn;
            b += dn * n;
        }
    }
    float dnMean = warp_sum(a) / C;
    float dnNormMean = warp_sum(b) / C;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8], g[8], w[8], d[8];
        load8(inp, x0 + c, IS_BF(2), x);
        load8(dout, x0 + c, IS_BF(1), g);
        load8(weight, c, IS_BF(3), w);
        load8(dinp, x0 + c, IS_BF(0), d);
        ln_bwd_input8(x, g, w, m, r, dnMean, dnNormMean, d);
        store8(dinp, x0 + c, IS_BF(0), d);
    }
}

// layernorm_backward_input_warp and layernorm_backward_params_partial in one pass over dout and inp (C % 8 == 0,
// C <= 1024): each warp takes LN_BWD_ROWS rows, accumulates into dinp as the input kernel does and keeps its lanes'
// dweight/dbias sums in registers; the block adds its 8 warps' sums in warp order through shared memory and writes one
// partial per block (pw, pb: [blocks, C]); add_column_partials finishes them. blockDim.x must be 256.
#define LN_BWD_ROWS 4
// The block's partial of one per-lane accumulator array (column lane*8 + 256*j + k at j*8 + k): the 8 warps' values
// added in warp order through shared memory, one row of part per block. Called by every thread of the block.
__device__ __forceinline__ void ln_bwd_block_partial(const float* acc, float* part, float (*red)[1024], int C) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int c = lane * 8 + 256 * j;
        if (c < C) {
#pragma unroll
            for (int k = 0; k < 8; k++) red[warp][c + k] = acc[j * 8 + k];
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float s = 0.f;
        for (int w = 0; w < 8; w++) s += red[w][c];
        part[(i64) blockIdx.x * C + c] = s;
    }
    __syncthreads();
}

// Eight bf16 values of a 16-byte vector as floats (bf2f of each half, low half first: load8's order).
__device__ __forceinline__ void unpack_bf8(uint4 u, float* f) {
    f[0] = __uint_as_float(u.x << 16); f[1] = __uint_as_float(u.x & 0xffff0000u);
    f[2] = __uint_as_float(u.y << 16); f[3] = __uint_as_float(u.y & 0xffff0000u);
    f[4] = __uint_as_float(u.z << 16); f[5] = __uint_as_float(u.z & 0xffff0000u);
    f[6] = __uint_as_float(u.w << 16); f[7] = __uint_as_float(u.w & 0xffff0000u);
}

// Eight columns of a row's input x and output gradient g: read from memory, or (CACHED) from the row's 16-byte
// vectors held in registers.
template <bool CACHED>
__device__ __forceinline__ void ln_bwd_row8(const void* inp, const void* dout, i64 i, uint4 xv, uint4 gv, int bf,
                                            float* x, float* g) {
    if constexpr (CACHED) {
        unpack_bf8(xv, x);
        unpack_bf8(gv, g);
    } else {
        load8(inp, i, IS_BF(4), x);
        load8(dout, i, IS_BF(3), g);
    }
}

// The one-pass LayerNorm backward over LN_BWD_ROWS rows a warp (see above). CACHED (bf16 inp and dout, the
// activations under mixed precision): the row's 16-byte vectors of both are loaded once and stay in registers (8 + 8
// a lane) for both passes instead of being read twice. The same arithmetic in the same order either way, so the
// kernels below give the same bits.
template <bool CACHED>
__device__ __forceinline__ void ln_bwd_rows(void* dinp, float* pw, float* pb, const void* dout, const void* inp,
                                            const void* weight, const float* mean, const float* rstd, int N, int C,
                                            int bf, float (*red)[1024]) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float dw[32], db[32]; // column lane*8 + 256*j + k at j*8 + k
#pragma unroll
    for (int k = 0; k < 32; k++) { dw[k] = 0.f; db[k] = 0.f; }
    const int row0 = (blockIdx.x * 8 + warp) * LN_BWD_ROWS;
    for (int rr = 0; rr < LN_BWD_ROWS; rr++) {
        const int row = row0 + rr;
        if (row >= N) break; // no early return: the block meets at the barriers below
        const i64 x0 = (i64) row * C;
        const float m = mean[row], r = rstd[row];
        uint4 xv[4], gv[4];
        if constexpr (CACHED) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int c = lane * 8 + 256 * j;
                if (c < C) {
                    xv[j] = *(const uint4*) ((const bf16_t*) inp + x0 + c);
                    gv[j] = *(const uint4*) ((const bf16_t*) dout + x0 + c);
                }
            }
        }
        float a = 0.f, b = 0.f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int c = lane * 8 + 256 * j;
            if (c < C) {
                float x[8], g[8], w[8];
                ln_bwd_row8<CACHED>(inp, dout, x0 + c, xv[j], gv[j], bf, x, g);
                load8(weight, c, IS_BF(5), w);
                ln_bwd_sums8(x, g, w, m, r, a, b, dw + j * 8, db + j * 8);
            }
        }
        const float dnMean = warp_sum(a) / C;
        const float dnNormMean = warp_sum(b) / C;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int c = lane * 8 + 256 * j;
            if (c < C) {
                float x[8], g[8], w[8], d[8];
                ln_bwd_row8<CACHED>(inp, dout, x0 + c, xv[j], gv[j], bf, x, g);
                load8(weight, c, IS_BF(5), w);
                load8(dinp, x0 + c, IS_BF(0), d);
                ln_bwd_input8(x, g, w, m, r, dnMean, dnNormMean, d);
                store8(dinp, x0 + c, IS_BF(0), d);
            }
        }
    }
    ln_bwd_block_partial(dw, pw, red, C);
    ln_bwd_block_partial(db, pb, red, C);
}

extern "C" __global__ void layernorm_backward_fused_warp(void* dinp, float* pw, float* pb, const void* dout,
                                                         const void* inp, const void* weight, const float* mean,
                                                         const float* rstd, int N, int C, int bf) {
    __shared__ float red[8][1024];
    ln_bwd_rows<false>(dinp, pw, pb, dout, inp, weight, mean, rstd, N, C, bf, red);
}

// The cached variants (bf16 inp and dout only): one or two resident blocks per SM asked of the compiler.
extern "C" __global__ void __launch_bounds__(256, 1) layernorm_backward_cached_warp(void* dinp, float* pw, float* pb,
        const void* dout, const void* inp, const void* weight, const float* mean, const float* rstd, int N, int C,
        int bf) {
    __shared__ float red[8][1024];
    ln_bwd_rows<true>(dinp, pw, pb, dout, inp, weight, mean, rstd, N, C, bf, red);
}

extern "C" __global__ void __launch_bounds__(256, 2) layernorm_backward_cached_warp2(void* dinp, float* pw,
        float* pb, const void* dout, const void* inp, const void* weight, const float* mean, const float* rstd, int N,
        int C, int bf) {
    __shared__ float red[8][1024];
    ln_bwd_rows<true>(dinp, pw, pb, dout, inp, weight, mean, rstd, N, C, bf, red);
}

// The residual add and the norm after it in one pass (Backend.addNormForward; CPU reference: its default, add then
// LayerNormKernels / RmsNormKernels): resid = x + delta stored in resid's precision, and the norm reads the stored
// values back (each lane re-reads only what it wrote), so the results equal add_f32 followed by the norm kernel's
// formulas. One warp per row, C % 8 == 0; layer = 1: LayerNorm (mean, bias), 0: RMSNorm (mean, bias unused).
extern "C" __global__ void add_norm_forward_warp(void* resid, void* out, float* mean, float* rstd, const void* x,
                                                 const void* delta, const void* weight, const void* bias, int N,
                                                 int C, float eps, int layer, int bf) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float s = 0.f;
    for (int c = lane * 8; c < C; c += 256) {
        float a[8], d[8], y[8];
        load8(x, x0 + c, IS_BF(4), a);
        load8(delta, x0 + c, IS_BF(5), d);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            y[k] = a[k] + d[k];
            if (IS_BF(0)) y[k] = bf2f(f2bf(y[k])); // what the stored value reads back as
            s += layer ? y[k] : y[k] * y[k];
        }
        store8(resid, x0 + c, IS_BF(0), y);
    }
    float m = 0.f, r;
    if (layer) {
        m = warp_sum(s) / C;
        float v = 0.f;
        for (int c = lane * 8; c < C; c += 256) {
            float y[8];
            load8(resid, x0 + c, IS_BF(0), y);
#pragma unroll
            for (int k = 0; k < 8; k++) { float d = y[k] - m; v += d * d; }
        }
        r = 1.0f / sqrtf(warp_sum(v) / C + eps);
    } else {
        r = 1.0f / sqrtf(warp_sum(s) / C + eps);
    }
    for (int c = lane * 8; c < C; c += 256) {
        float y[8], w[8], b[8], o[8];
        load8(resid, x0 + c, IS_BF(0), y);
        load8(weight, c, IS_BF(6), w);
        if (layer) {
            load8(bias, c, IS_BF(7), b);
#pragma unroll
            for (int k = 0; k < 8; k++) o[k] = (y[k] - m) * r * w[k] + b[k];
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) o[k] = w[k] * (y[k] * r);
        }
        store8(out, x0 + c, IS_BF(1), o);
    }
    if (lane == 0) {
        if (layer) mean[row] = m;
        rstd[row] = r;
    }
}

// add_norm_forward_warp with the row's sums y = x + delta kept in registers (J chunks of 8 a lane: C <= 256 J)
// instead of read back from memory for the variance and the output: the same values (rounded as stored) and the same
// order of every sum, so the results equal add_norm_forward_warp's bit for bit; resid is written once, never read.
template <int J>
__device__ __forceinline__ void add_norm_cached(void* resid, void* out, float* mean, float* rstd, const void* x,
                                                const void* delta, const void* weight, const void* bias, int N, int C,
                                                float eps, int layer, int bf) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float y[J][8];
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < J; j++) {
        const int c = lane * 8 + 256 * j;
        if (c < C) {
            float a[8], d[8];
            load8(x, x0 + c, IS_BF(4), a);
            load8(delta, x0 + c, IS_BF(5), d);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                y[j][k] = a[k] + d[k];
                if (IS_BF(0)) y[j][k] = bf2f(f2bf(y[j][k])); // what the stored value reads back as
                s += layer ? y[j][k] : y[j][k] * y[j][k];
            }
            store8(resid, x0 + c, IS_BF(0), y[j]);
        }
    }
    float m = 0.f, r;
    if (layer) {
        m = warp_sum(s) / C;
        float v = 0.f;
#pragma unroll
        for (int j = 0; j < J; j++) {
            if (lane * 8 + 256 * j < C) {
#pragma unroll
                for (int k = 0; k < 8; k++) { float d = y[j][k] - m; v += d * d; }
            }
        }
        r = 1.0f / sqrtf(warp_sum(v) / C + eps);
    } else {
        r = 1.0f / sqrtf(warp_sum(s) / C + eps);
    }
#pragma unroll
    for (int j = 0; j < J; j++) {
        const int c = lane * 8 + 256 * j;
        if (c < C) {
            float w[8], b[8], o[8];
            load8(weight, c, IS_BF(6), w);
            if (layer) {
                load8(bias, c, IS_BF(7), b);
#pragma unroll
                for (int k = 0; k < 8; k++) o[k] = (y[j][k] - m) * r * w[k] + b[k];
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++) o[k] = w[k] * (y[j][k] * r);
            }
            store8(out, x0 + c, IS_BF(1), o);
        }
    }
    if (lane == 0) {
        if (layer) mean[row] = m;
        rstd[row] = r;
    }
}

// Widths up to 1024 (GPT-2 124M-350M) and up to 2048 (the 1.3B-2.7B models); wider rows use add_norm_forward_warp.
extern "C" __global__ void add_norm_forward_cached4(void* resid, void* out, float* mean, float* rstd, const void* x,
                                                    const void* delta, const void* weight, const void* bias, int N,
                                                    int C, float eps, int layer, int bf) {
    add_norm_cached<4>(resid, out, mean, rstd, x, delta, weight, bias, N, C, eps, layer, bf);
}

extern "C" __global__ void add_norm_forward_cached8(void* resid, void* out, float* mean, float* rstd, const void* x,
                                                    const void* delta, const void* weight, const void* bias, int N,
                                                    int C, float eps, int layer, int bf) {
    add_norm_cached<8>(resid, out, mean, rstd, x, delta, weight, bias, N, C, eps, layer, bf);
}

// rmsnorm_forward, one warp per row with 16-byte accesses (C % 8 == 0). Same CPU reference and formulas.
extern "C" __global__ void rmsnorm_forward_warp(void* out, float* rstd, const void* inp, const void* weight, int N,
                                                int C, float eps, int bf) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float s = 0.f;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8];
        load8(inp, x0 + c, IS_BF(2), x);
#pragma unroll
        for (int k = 0; k < 8; k++) s += x[k] * x[k];
    }
    float r = 1.0f / sqrtf(warp_sum(s) / C + eps);
    for (int c = lane * 8; c < C; c += 256) {
        float x[8], w[8], o[8];
        load8(inp, x0 + c, IS_BF(2), x);
        load8(weight, c, IS_BF(3), w);
#pragma unroll
        for (int k = 0; k < 8; k++) o[k] = w[k] * (x[k] * r);
        store8(out, x0 + c, IS_BF(0), o);
    }
    if (lane == 0) rstd[row] = r;
}

// rmsnorm_backward_input, one warp per row with 16-byte accesses (C % 8 == 0); accumulates into dinp.
extern "C" __global__ void rmsnorm_backward_input_warp(void* dinp, const void* dout, const void* inp,
                                                       const void* weight, const float* rstd, int N, int C, int bf) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const i64 x0 = (i64) row * C;
    float r = rstd[row];
    float a = 0.f;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8], g[8], w[8];
        load8(inp, x0 + c, IS_BF(2), x);
        load8(dout, x0 + c, IS_BF(1), g);
        load8(weight, c, IS_BF(3), w);
#pragma unroll
        for (int k = 0; k < 8; k++) a += w[k] * g[k] * (x[k] * r);
    }
    float dot = warp_sum(a) / C;
    for (int c = lane * 8; c < C; c += 256) {
        float x[8], g[8], w[8], d[8];
        load8(inp, x0 + c, IS_BF(2), x);
        load8(dout, x0 + c, IS_BF(1), g);
        load8(weight, c, IS_BF(3), w);
        load8(dinp, x0 + c, IS_BF(0), d);
#pragma unroll
        for (int k = 0; k < 8; k++) d[k] += (w[k] * g[k] - (x[k] * r) * dot) * r;
        store8(dinp, x0 + c, IS_BF(0), d);
    }
}
