// CPU reference: AttentionKernels (causal GQA attention over the fused, grouped QKV buffer [B, T, (H+2G)d];
// out [B, T, H d]; lse [B, H, T]). Flash-style: keys and values stream through shared memory in tiles, the softmax
// is kept online (running max and sum), and only the log-sum-exp per query row is saved; nothing T x T is ever
// stored. The backward recomputes P = exp(S - lse). Compiled once per head size: -DHD=<d>.
//
// One thread owns one query row (forward, dQ) or one key row (dK, dV) and keeps its vectors in registers.
#ifndef HD
#error "compile with -DHD=<head dim>"
#endif
#define BQ 64
#define BK 32

__device__ __forceinline__ int q_offset(int h, int H, int G) { int q = H / G, g = h / q; return (g * (q + 2) + (h - g * q)) * HD; }
__device__ __forceinline__ int k_offset(int g, int H, int G) { int q = H / G; return (g * (q + 2) + q) * HD; }

extern "C" __global__ void __launch_bounds__(BQ) attention_forward(void* out, float* lse, const void* qkv, int B,
                                                                   int T, int H, int G, int bf) {
    __shared__ float ks[BK][HD];
    __shared__ float vs[BK][HD];
    const int row = (H + 2 * G) * HD;
    const int b = blockIdx.y / H, h = blockIdx.y % H, g = h / (H / G);
    const int qOff = q_offset(h, H, G), kOff = k_offset(g, H, G), vOff = kOff + HD;
    const float scale = 1.0f / sqrtf((float) HD);
    const i64 base = (i64) b * T * row;
    const int t = blockIdx.x * BQ + threadIdx.x;
    float q[HD], acc[HD];
    float m = -INFINITY, l = 0.f;
#pragma unroll
    for (int j = 0; j < HD; j++) { q[j] = t < T ? LD(qkv, base + (i64) t * row + qOff + j, 2) : 0.f; acc[j] = 0.f; }
    const int lastQuery = min(T - 1, (int) blockIdx.x * BQ + BQ - 1);
    for (int k0 = 0; k0 <= lastQuery; k0 += BK) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < BK * HD; idx += BQ) {
            int kk = idx / HD, j = idx % HD, key = k0 + kk;
            bool in = key < T;
            ks[kk][j] = in ? LD(qkv, base + (i64) key * row + kOff + j, 2) : 0.f;
            vs[kk][j] = in ? LD(qkv, base + (i64) key * row + vOff + j, 2) : 0.f;
        }
        __syncthreads();
        if (t >= T || k0 > t) continue;
        const int kend = min(BK, t - k0 + 1);
        float s[BK];
        float tileMax = -INFINITY;
        for (int kk = 0; kk < kend; kk++) {
            float dot = 0.f;
#pragma unroll
            for (int j = 0; j < HD; j++) dot += q[j] * ks[kk][j];
            s[kk] = dot * scale;
            tileMax = fmaxf(tileMax, s[kk]);
        }
        const float mNew = fmaxf(m, tileMax);
        const float corr = expf(m - mNew);
        l *= corr;
#pragma unroll
        for (int j = 0; j < HD; j++) acc[j] *= corr;
        for (int kk = 0; kk < kend; kk++) {
            float p = expf(s[kk] - mNew);
            l += p;
#pragma unroll
            for (int j = 0; j < HD; j++) acc[j] += p * vs[kk][j];
        }
        m = mNew;
    }
    if (t < T) {
        const float inv = 1.f / l;
        const i64 o = ((i64) b * T + t) * H * HD + h * HD;
#pragma unroll
        for (int j = 0; j < HD; j++) ST(out, o + j, 0, acc[j] * inv);
        lse[((i64) b * H + h) * T + t] = m + logf(l);
    }
}

// D[b, h, t] = sum_j dout[b, t, h, j] * out[b, t, h, j] (the softmax backward's row term).
extern "C" __global__ void attention_backward_dot(float* D, const void* dout, const void* out, int B, int T,
                                                  int H, int bf) {
    i64 total = (i64) B * H * T;
    GRID_STRIDE(i, total) {
        int t = (int) (i % T);
        i64 bh = i / T;
        int h = (int) (bh % H), b = (int) (bh / H);
        const i64 o = ((i64) b * T + t) * H * HD + h * HD;
        float s = 0.f;
        for (int j = 0; j < HD; j++) s += LD(dout, o + j, 1) * LD(out, o + j, 2);
        D[i] = s;
    }
}

// dQ: one thread per query row; keys and values stream through shared memory. Writes the q slots of dqkv.
extern "C" __global__ void __launch_bounds__(BQ) attention_backward_dq(void* dqkv, const void* dout,
                                                                       const void* qkv, const float* lse,
                                                                       const float* D, int B, int T, int H, int G,
                                                                       int bf) {
    __shared__ float ks[BK][HD];
    __shared__ float vs[BK][HD];
    const int row = (H + 2 * G) * HD;
    const int b = blockIdx.y / H, h = blockIdx.y % H, g = h / (H / G);
    const int qOff = q_offset(h, H, G), kOff = k_offset(g, H, G), vOff = kOff + HD;
    const float scale = 1.0f / sqrtf((float) HD);
    const i64 base = (i64) b * T * row;
    const int t = blockIdx.x * BQ + threadIdx.x;
    float q[HD], dO[HD], dq[HD];
    const i64 o = ((i64) b * T + t) * H * HD + h * HD;
#pragma unroll
    for (int j = 0; j < HD; j++) {
        q[j] = t < T ? LD(qkv, base + (i64) t * row + qOff + j, 2) : 0.f;
        dO[j] = t < T ? LD(dout, o + j, 1) : 0.f;
        dq[j] = 0.f;
    }
    const float L = t < T ? lse[((i64) b * H + h) * T + t] : 0.f;
    const float Dt = t < T ? D[((i64) b * H + h) * T + t] : 0.f;
    const int lastQuery = min(T - 1, (int) blockIdx.x * BQ + BQ - 1);
    for (int k0 = 0; k0 <= lastQuery; k0 += BK) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < BK * HD; idx += BQ) {
            int kk = idx / HD, j = idx % HD, key = k0 + kk;
            bool in = key < T;
            ks[kk][j] = in ? LD(qkv, base + (i64) key * row + kOff + j, 2) : 0.f;
            vs[kk][j] = in ? LD(qkv, base + (i64) key * row + vOff + j, 2) : 0.f;
        }
        __syncthreads();
        if (t >= T || k0 > t) continue;
        const int kend = min(BK, t - k0 + 1);
        for (int kk = 0; kk < kend; kk++) {
            float dot = 0.f, dp = 0.f;
#pragma unroll
            for (int j = 0; j < HD; j++) { dot += q[j] * ks[kk][j]; dp += dO[j] * vs[kk][j]; }
            float p = expf(dot * scale - L);
            float ds = p * (dp - Dt) * scale;
#pragma unroll
            for (int j = 0; j < HD; j++) dq[j] += ds * ks[kk][j];
        }
    }
    if (t < T) {
        const i64 dst = ((i64) b * T + t) * row + qOff;
#pragma unroll
        for (int j = 0; j < HD; j++) ST(dqkv, dst + j, 0, dq[j]);
    }
}

// dK, dV: one thread per key row of kv group g; the group's query heads (in order) and their queries >= the key
// stream through shared memory. Writes the k and v slots of dqkv.
extern "C" __global__ void __launch_bounds__(BQ) attention_backward_dkv(void* dqkv, const void* dout,
                                                                        const void* qkv, const float* lse,
                                                                        const float* D, int B, int T, int H, int G,
                                                                        int bf) {
    __shared__ float qs[BK][HD];
    __shared__ float dos[BK][HD];
    __shared__ float ls[BK];
    __shared__ float ds_[BK];
    const int row = (H + 2 * G) * HD;
    const int b = blockIdx.y / G, g = blockIdx.y % G, qh = H / G;
    const int kOff = k_offset(g, H, G), vOff = kOff + HD;
    const float scale = 1.0f / sqrtf((float) HD);
    const i64 base = (i64) b * T * row;
    const int key = blockIdx.x * BQ + threadIdx.x;
    float k[HD], v[HD], dk[HD], dv[HD];
#pragma unroll
    for (int j = 0; j < HD; j++) {
        k[j] = key < T ? LD(qkv, base + (i64) key * row + kOff + j, 2) : 0.f;
        v[j] = key < T ? LD(qkv, base + (i64) key * row + vOff + j, 2) : 0.f;
        dk[j] = 0.f;
        dv[j] = 0.f;
    }
    const int firstKey = blockIdx.x * BQ;
    for (int r = 0; r < qh; r++) {
        const int h = g * qh + r;
        const int qOff = q_offset(h, H, G);
        for (int q0 = firstKey; q0 < T; q0 += BK) {
            __syncthreads();
            for (int idx = threadIdx.x; idx < BK * HD; idx += BQ) {
                int qq = idx / HD, j = idx % HD, t = q0 + qq;
                bool in = t < T;
                qs[qq][j] = in ? LD(qkv, base + (i64) t * row + qOff + j, 2) : 0.f;
                dos[qq][j] = in ? LD(dout, ((i64) b * T + t) * H * HD + h * HD + j, 1) : 0.f;
            }
            for (int qq = threadIdx.x; qq < BK; qq += BQ) {
                int t = q0 + qq;
                ls[qq] = t < T ? lse[((i64) b * H + h) * T + t] : 0.f;
                ds_[qq] = t < T ? D[((i64) b * H + h) * T + t] : 0.f;
            }
            __syncthreads();
            if (key >= T) continue;
            const int qend = min(BK, T - q0);
            for (int qq = max(0, key - q0); qq < qend; qq++) {
                float dot = 0.f, dp = 0.f;
#pragma unroll
                for (int j = 0; j < HD; j++) { dot += qs[qq][j] * k[j]; dp += dos[qq][j] * v[j]; }
                float p = expf(dot * scale - ls[qq]);
                float ds = p * (dp - ds_[qq]) * scale;
#pragma unroll
                for (int j = 0; j < HD; j++) { dv[j] += p * dos[qq][j]; dk[j] += ds * qs[qq][j]; }
            }
        }
    }
    if (key < T) {
        const i64 dst = ((i64) b * T + key) * row;
#pragma unroll
        for (int j = 0; j < HD; j++) { ST(dqkv, dst + kOff + j, 0, dk[j]); ST(dqkv, dst + vOff + j, 0, dv[j]); }
    }
}
