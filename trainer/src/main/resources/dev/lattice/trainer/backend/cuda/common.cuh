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
