// Shared helpers of Lattice's CUDA kernels. Every kernel file is compiled after this one (NVRTC, one module);
// each kernel's CPU reference is named in its file (dev.lattice.trainer.backend.cpu.*Kernels).
typedef long long i64;

// NVRTC compiles without the host math headers.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// Sum over a warp; every lane gets the result.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets the result.
// The reduction order is fixed by the thread layout, so results are deterministic run to run.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < warps ? partial[lane] : 0.f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

__device__ float block_max(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < warps ? partial[lane] : -INFINITY;
        s = warp_max(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

// Storage: a tensor reaches a kernel as a pointer plus one bit of the kernel's last argument `bf` (bit k for the
// parameter in position k): set means bf16 storage (2 bytes, the top half of an fp32), clear means fp32. Kernels read
// and write tensors only through LD/ST, and compute in fp32 either way.
typedef unsigned short bf16_t;

__device__ __forceinline__ float bf2f(bf16_t h) { return __uint_as_float(((unsigned int) h) << 16); }

// Round to nearest even; NaN stays NaN (Bf16.round on the CPU).
__device__ __forceinline__ bf16_t f2bf(float x) {
    unsigned int u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t) ((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t) (u >> 16);
}

#define IS_BF(k) ((bf >> (k)) & 1)
#define LD(p, i, k) (IS_BF(k) ? bf2f(((const bf16_t*) (p))[i]) : ((const float*) (p))[i])
#define ST(p, i, k, v) do { float st_v_ = (v); if (IS_BF(k)) ((bf16_t*) (p))[i] = f2bf(st_v_); \
                            else ((float*) (p))[i] = st_v_; } while (0)

#define GRID_STRIDE(i, n) for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64) gridDim.x * blockDim.x)

// Eight consecutive elements [i, i+8) through one 16-byte access (bf16) or two (fp32): the vectorised twin of LD/ST
// for row-wise kernels. i must be a multiple of 8 from a 16-byte aligned base (callers check the row length).
__device__ __forceinline__ void load8(const void* p, i64 i, bool half, float* out) {
    if (half) {
        uint4 u = *(const uint4*) ((const bf16_t*) p + i);
        const bf16_t* h = (const bf16_t*) &u;
#pragma unroll
        for (int k = 0; k < 8; k++) out[k] = bf2f(h[k]);
    } else {
        float4 a = *(const float4*) ((const float*) p + i);
        float4 b = *(const float4*) ((const float*) p + i + 4);
        out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
        out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
    }
}

__device__ __forceinline__ void store8(void* p, i64 i, bool half, const float* v) {
    if (half) {
        uint4 u;
        bf16_t* h = (bf16_t*) &u;
#pragma unroll
        for (int k = 0; k < 8; k++) h[k] = f2bf(v[k]);
        *(uint4*) ((bf16_t*) p + i) = u;
    } else {
        *(float4*) ((float*) p + i) = make_float4(v[0], v[1], v[2], v[3]);
        *(float4*) ((float*) p + i + 4) = make_float4(v[4], v[5], v[6], v[7]);
    }
}
