// Tensor-core flash attention (bf16 products, fp32 softmax and accumulation), FlashAttention-2's structure with
// mma.sync m16n8k16: a warp owns 16 rows (queries, or keys in dK/dV), a block 64; key/value (or query/dO) tiles of
// 64 rows stream through shared memory as bf16. Same contract as attention.cu (the fp32 kernels, and through them
// the CPU reference AttentionKernels), within bf16 tolerance: out, lse (natural log of the scaled scores) and dqkv.
// Compiled together with attention.cu (-DHD=<d>, d a multiple of 16, at most 128), whose helpers it uses.
#define TC_ROWS 64
#define TC_LD (HD + 8) /* padded bf16 row: conflict-free fragment loads */

typedef unsigned int u32;

__device__ __forceinline__ bf16_t to_bf16(float x) { return f2bf(x); }

// Two values as the 32-bit operand register: the lower column in the low half.
__device__ __forceinline__ u32 pack2(float lo, float hi) { return (u32) to_bf16(lo) | ((u32) to_bf16(hi) << 16); }

__device__ __forceinline__ u32 pack_bf(bf16_t lo, bf16_t hi) { return (u32) lo | ((u32) hi << 16); }

// c += a (16x16, row) * b (16x8, col), fp32 accumulate.
__device__ __forceinline__ void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9},"
                 " {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Rows [row0, row0+64) of one head slot (element base + row * stride + off) into shared bf16 [64][TC_LD]; rows >= T
// are zero; srcBf says the source's storage. 128 threads, 16-byte (fp32) or 8-byte (bf16) loads, the loop unrolled
// so every load is in flight at once (a rolled load-convert-store loop waits out the memory latency once per element
// and made these kernels latency-bound).
__device__ __forceinline__ void tile_to_shared(bf16_t (*dst)[TC_LD], const void* src, bool srcBf, i64 base,
                                               i64 stride, int off, int row0, int T) {
    const int perRow = HD / 4;
#pragma unroll
    for (int it = 0; it < TC_ROWS * perRow / 128; it++) {
        int idx = it * 128 + threadIdx.x;
        int r = idx / perRow, c = (idx % perRow) * 4, row = row0 + r;
        i64 e = base + (i64) row * stride + off + c;
        uint2 packed;
        packed.x = packed.y = 0u;
        if (row < T) {
            if (srcBf) {
                packed = *(const uint2*) ((const bf16_t*) src + e);
            } else {
                float4 v = *(const float4*) ((const float*) src + e);
                packed.x = pack2(v.x, v.y);
                packed.y = pack2(v.z, v.w);
            }
        }
        *(uint2*) &dst[r][c] = packed;
    }
}

// The A fragments (16 x HD, row-major) of rows [r0, r0+16) of a head slot, straight from global memory.
__device__ __forceinline__ void load_a_rows(u32 (*a)[4], const void* src, bool srcBf, i64 base, i64 stride, int off,
                                            int r0, int T) {
    const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
    const int ra = r0 + g, rb = r0 + g + 8;
    const int bf = srcBf ? 1 : 0; // for LD's bit 0
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        int c = ks * 16 + 2 * t;
        i64 pa = base + (i64) ra * stride + off + c;
        i64 pb = base + (i64) rb * stride + off + c;
        bool ina = ra < T, inb = rb < T;
        a[ks][0] = ina ? pack2(LD(src, pa, 0), LD(src, pa + 1, 0)) : 0u;
        a[ks][1] = inb ? pack2(LD(src, pb, 0), LD(src, pb + 1, 0)) : 0u;
        a[ks][2] = ina ? pack2(LD(src, pa + 8, 0), LD(src, pa + 9, 0)) : 0u;
        a[ks][3] = inb ? pack2(LD(src, pb + 8, 0), LD(src, pb + 9, 0)) : 0u;
    }
}

// c[nt] (16 x 64) = A (16 x HD) * S^T where S is a shared [64][TC_LD] tile: B's columns are S's rows (contiguous).
__device__ __forceinline__ void mma_rows_by_tile(float (*c)[4], const u32 (*a)[4], bf16_t (*s)[TC_LD]) {
    const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < HD / 16; ks++) {
            const bf16_t* row = &s[nt * 8 + g][ks * 16 + 2 * t];
            mma16816(c[nt], a[ks], *(const u32*) row, *(const u32*) (row + 8));
        }
    }
}

// The 16 x 64 accumulator as four A fragments (k = the 64 columns), for the next product.
__device__ __forceinline__ void acc_to_a(u32 (*a)[4], float (*c)[4]) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        a[kk][0] = pack2(c[2 * kk][0], c[2 * kk][1]);
        a[kk][1] = pack2(c[2 * kk][2], c[2 * kk][3]);
        a[kk][2] = pack2(c[2 * kk + 1][0], c[2 * kk + 1][1]);
        a[kk][3] = pack2(c[2 * kk + 1][2], c[2 * kk + 1][3]);
    }
}

// acc[dt] (16 x HD) += A (16 x 64) * S where S is a shared [64][TC_LD] tile (k = S's rows, n = its columns).
__device__ __forceinline__ void mma_a_by_tile(float (*acc)[4], const u32 (*a)[4], bf16_t (*s)[TC_LD]) {
    const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
#pragma unroll
    for (int dt = 0; dt < HD / 8; dt++) {
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            int k = kk * 16 + 2 * t, n = dt * 8 + g;
            u32 b0 = pack_bf(s[k][n], s[k + 1][n]);
            u32 b1 = pack_bf(s[k + 8][n], s[k + 9][n]);
            mma16816(acc[dt], a[kk], b0, b1);
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) attention_forward_tc(void* out, float* lse, const void* qkv, int B,
                                                                      int T, int H, int G, int bf) {
    __shared__ bf16_t ks[TC_ROWS][TC_LD];
    __shared__ bf16_t vs[TC_ROWS][TC_LD];
    const int row = (H + 2 * G) * HD;
    const int b = blockIdx.y / H, h = blockIdx.y % H, grp = h / (H / G);
    const int qOff = q_offset(h, H, G), kOff = k_offset(grp, H, G), vOff = kOff + HD;
    const float scale = 1.0f / sqrtf((float) HD);
    const i64 base = (i64) b * T * row;
    const bool qkvBf = IS_BF(2);
    const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
    const int q0 = blockIdx.x * TC_ROWS + warp * 16;
    u32 qa[HD / 16][4];
    load_a_rows(qa, qkv, qkvBf, base, row, qOff, q0, T);
    float o[HD / 8][4];
#pragma unroll
    for (int dt = 0; dt < HD / 8; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const int lastQuery = min(T - 1, (int) blockIdx.x * TC_ROWS + TC_ROWS - 1);
    for (int kt = 0; kt <= lastQuery; kt += TC_ROWS) {
        __syncthreads();
        tile_to_shared(ks, qkv, qkvBf, base, row, kOff, kt, T);
        tile_to_shared(vs, qkv, qkvBf, base, row, vOff, kt, T);
        __syncthreads();
        if (kt > q0 + 15) continue; // every key of the tile is after this warp's queries
        float s[8][4];
        mma_rows_by_tile(s, qa, ks);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int query = q0 + g + (e >> 1) * 8, key = kt + nt * 8 + 2 * t + (e & 1);
                float v = (key <= query && key < T) ? s[nt][e] * scale : -INFINITY;
                s[nt][e] = v;
                mx[e >> 1] = fmaxf(mx[e >> 1], v);
            }
        }
        float corr[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            float mNew = fmaxf(m[i], mx[i]);
            corr[i] = mNew == -INFINITY ? 1.f : expf(m[i] - mNew);
            m[i] = mNew;
            l[i] *= corr[i];
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int i = e >> 1;
                float p = m[i] == -INFINITY ? 0.f : expf(s[nt][e] - m[i]);
                s[nt][e] = p;
                l[i] += p;
            }
        }
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt++) {
            o[dt][0] *= corr[0]; o[dt][1] *= corr[0];
            o[dt][2] *= corr[1]; o[dt][3] *= corr[1];
        }
        u32 pa[4][4];
        acc_to_a(pa, s);
        mma_a_by_tile(o, pa, vs);
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int query = q0 + g + i * 8;
        if (query >= T) continue;
        float inv = 1.f / l[i];
        const i64 dst = ((i64) b * T + query) * H * HD + h * HD;
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt++) {
            ST(out, dst + dt * 8 + 2 * t, 0, o[dt][2 * i] * inv);
            ST(out, dst + dt * 8 + 2 * t + 1, 0, o[dt][2 * i + 1] * inv);
        }
        if (t == 0) lse[((i64) b * H + h) * T + query] = m[i] + logf(l[i]);
    }
}

// dQ: a warp's 16 queries against key/value tiles; dS = P (dP - D) scale, dQ = dS K. Writes the q slots of dqkv.
extern "C" __global__ void __launch_bounds__(128) attention_backward_dq_tc(void* dqkv, const void* dout,
                                                                          const void* qkv, const float* lse,
                                                                          const float* D, int B, int T, int H,
                                                                          int G, int bf) {
    __shared__ bf16_t ks[TC_ROWS][TC_LD];
    __shared__ bf16_t vs[TC_ROWS][TC_LD];
    const int row = (H + 2 * G) * HD;
    const int b = blockIdx.y / H, h = blockIdx.y % H, grp = h / (H / G);
    const int qOff = q_offset(h, H, G), kOff = k_offset(grp, H, G), vOff = kOff + HD;
    const float scale = 1.0f / sqrtf((float) HD);
    const i64 base = (i64) b * T * row;
    const i64 dbase = (i64) b * T * H * HD;
    const bool qkvBf = IS_BF(2), doutBf = IS_BF(1);
    const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
    const int q0 = blockIdx.x * TC_ROWS + warp * 16;
    u32 qa[HD / 16][4], da[HD / 16][4];
    load_a_rows(qa, qkv, qkvBf, base, row, qOff, q0, T);
    load_a_rows(da, dout, doutBf, dbase, (i64) H * HD, h * HD, q0, T);
    float L[2], Dr[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int query = q0 + g + i * 8;
        L[i] = query < T ? lse[((i64) b * H + h) * T + query] : 0.f;
        Dr[i] = query < T ? D[((i64) b * H + h) * T + query] : 0.f;
    }
    float dq[HD / 8][4];
#pragma unroll
    for (int dt = 0; dt < HD / 8; dt++) dq[dt][0] = dq[dt][1] = dq[dt][2] = dq[dt][3] = 0.f;
    const int lastQuery = min(T - 1, (int) blockIdx.x * TC_ROWS + TC_ROWS - 1);
    for (int kt = 0; kt <= lastQuery; kt += TC_ROWS) {
        __syncthreads();
        tile_to_shared(ks, qkv, qkvBf, base, row, kOff, kt, T);
        tile_to_shared(vs, qkv, qkvBf, base, row, vOff, kt, T);
        __syncthreads();
        if (kt > q0 + 15) continue;
        float s[8][4], dp[8][4];
        mma_rows_by_tile(s, qa, ks);
        mma_rows_by_tile(dp, da, vs);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int i = e >> 1, query = q0 + g + i * 8, key = kt + nt * 8 + 2 * t + (e & 1);
                float p = (key <= query && key < T && query < T) ? expf(s[nt][e] * scale - L[i]) : 0.f;
                s[nt][e] = p * (dp[nt][e] - Dr[i]) * scale;
            }
        }
        u32 dsa[4][4];
        acc_to_a(dsa, s);
        mma_a_by_tile(dq, dsa, ks);
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int query = q0 + g + i * 8;
        if (query >= T) continue;
        const i64 dst = ((i64) b * T + query) * row + qOff;
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt++) {
            ST(dqkv, dst + dt * 8 + 2 * t, 0, dq[dt][2 * i]);
            ST(dqkv, dst + dt * 8 + 2 * t + 1, 0, dq[dt][2 * i + 1]);
        }
    }
}

// dK, dV: a warp's 16 keys of kv group g against tiles of queries (and their dO) of each query head of the group;
// dV = P^T dO, dK = dS^T Q. Writes the k and v slots of dqkv.
extern "C" __global__ void __launch_bounds__(128) attention_backward_dkv_tc(void* dqkv, const void* dout,
                                                                           const void* qkv, const float* lse,
                                                                           const float* D, int B, int T, int H,
                                                                           int G, int bf) {
    __shared__ bf16_t qs[TC_ROWS][TC_LD];
    __shared__ bf16_t dos[TC_ROWS][TC_LD];
    __shared__ float ls[TC_ROWS];
    __shared__ float dsh[TC_ROWS];
    const int row = (H + 2 * G) * HD;
    const int b = blockIdx.y / G, grp = blockIdx.y % G, qh = H / G;
    const int kOff = k_offset(grp, H, G), vOff = kOff + HD;
    const float scale = 1.0f / sqrtf((float) HD);
    const i64 base = (i64) b * T * row;
    const i64 dbase = (i64) b * T * H * HD;
    const bool qkvBf = IS_BF(2), doutBf = IS_BF(1);
    const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
    const int k0 = blockIdx.x * TC_ROWS + warp * 16;
    u32 ka[HD / 16][4], va[HD / 16][4];
    load_a_rows(ka, qkv, qkvBf, base, row, kOff, k0, T);
    load_a_rows(va, qkv, qkvBf, base, row, vOff, k0, T);
    float dk[HD / 8][4], dv[HD / 8][4];
#pragma unroll
    for (int dt = 0; dt < HD / 8; dt++) {
        dk[dt][0] = dk[dt][1] = dk[dt][2] = dk[dt][3] = 0.f;
        dv[dt][0] = dv[dt][1] = dv[dt][2] = dv[dt][3] = 0.f;
    }
    for (int r = 0; r < qh; r++) {
        const int h = grp * qh + r;
        const int qOff = q_offset(h, H, G);
        for (int qt = blockIdx.x * TC_ROWS; qt < T; qt += TC_ROWS) {
            __syncthreads();
            tile_to_shared(qs, qkv, qkvBf, base, row, qOff, qt, T);
            tile_to_shared(dos, dout, doutBf, dbase, (i64) H * HD, h * HD, qt, T);
            for (int i = threadIdx.x; i < TC_ROWS; i += blockDim.x) {
                int query = qt + i;
                ls[i] = query < T ? lse[((i64) b * H + h) * T + query] : 0.f;
                dsh[i] = query < T ? D[((i64) b * H + h) * T + query] : 0.f;
            }
            __syncthreads();
            float st[8][4], dpt[8][4];
            mma_rows_by_tile(st, ka, qs);
            mma_rows_by_tile(dpt, va, dos);
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = k0 + g + (e >> 1) * 8, qi = nt * 8 + 2 * t + (e & 1), query = qt + qi;
                    bool in = query >= key && query < T && key < T;
                    float p = in ? expf(st[nt][e] * scale - ls[qi]) : 0.f;
                    st[nt][e] = p;
                    dpt[nt][e] = p * (dpt[nt][e] - dsh[qi]) * scale;
                }
            }
            u32 pa[4][4], dsa[4][4];
            acc_to_a(pa, st);
            acc_to_a(dsa, dpt);
            mma_a_by_tile(dv, pa, dos);
            mma_a_by_tile(dk, dsa, qs);
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int key = k0 + g + i * 8;
        if (key >= T) continue;
        const i64 dst = ((i64) b * T + key) * row;
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt++) {
            ST(dqkv, dst + kOff + dt * 8 + 2 * t, 0, dk[dt][2 * i]);
            ST(dqkv, dst + kOff + dt * 8 + 2 * t + 1, 0, dk[dt][2 * i + 1]);
            ST(dqkv, dst + vOff + dt * 8 + 2 * t, 0, dv[dt][2 * i]);
            ST(dqkv, dst + vOff + dt * 8 + 2 * t + 1, 0, dv[dt][2 * i + 1]);
        }
    }
}
