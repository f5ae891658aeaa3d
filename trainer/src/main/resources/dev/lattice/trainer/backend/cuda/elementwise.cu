// CPU references: CpuBackend (fill, copy), ResidualKernels (add, accumulate), AdamWKernels.scale/sumOfSquares,
// Bf16.round, CpuBackend.addBias/biasBackward/hasNonFinite. Every tensor may be fp32 or bf16 (LD/ST, common.cuh).

extern "C" __global__ void fill_f32(void* x, float v, i64 n, int bf) {
    GRID_STRIDE(i, n) ST(x, i, 0, v);
}

// dst = src, converting between storages.
extern "C" __global__ void copy_convert(void* dst, const void* src, i64 n, int bf) {
    GRID_STRIDE(i, n) ST(dst, i, 0, LD(src, i, 1));
}

extern "C" __global__ void add_f32(void* out, const void* a, const void* b, i64 n, int bf) {
    GRID_STRIDE(i, n) ST(out, i, 0, LD(a, i, 1) + LD(b, i, 2));
}

extern "C" __global__ void accumulate_f32(void* y, const void* x, i64 n, int bf) {
    GRID_STRIDE(i, n) ST(y, i, 0, LD(y, i, 0) + LD(x, i, 1));
}

extern "C" __global__ void scale_f32(void* x, float s, i64 n, int bf) {
    GRID_STRIDE(i, n) ST(x, i, 0, LD(x, i, 0) * s);
}

// Round to nearest even on the top 16 bits; NaN kept as is (Bf16.round).
extern "C" __global__ void cast_bf16(void* dst, const void* src, i64 n, int bf) {
    GRID_STRIDE(i, n) {
        float x = LD(src, i, 1);
        if (isnan(x)) { ST(dst, i, 0, x); continue; }
        unsigned int bits = __float_as_uint(x);
        unsigned int lsb = (bits >> 16) & 1u;
        bits += 0x7FFFu + lsb;
        ST(dst, i, 0, __uint_as_float(bits & 0xFFFF0000u));
    }
}

// out[r, c] += bias[c]: columns along x, rows along y (no 64-bit division per element).
extern "C" __global__ void add_bias(void* out, const void* bias, int rows, int cols, int bf) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float b = LD(bias, c, 1);
    for (int r = blockIdx.y; r < rows; r += gridDim.y) {
        i64 i = (i64) r * cols + c;
        ST(out, i, 0, LD(out, i, 0) + b);
    }
}

// Column sums in two deterministic passes: chunk k (blockIdx.y) of rowsPerChunk rows writes partial[k, c]; then
// add_column_partials adds the chunks in order. (The CPU sums all rows in order; only the association differs.)
extern "C" __global__ void bias_backward_partial(float* partial, const void* dout, int rows, int cols,
                                                 int rowsPerChunk, int bf) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
    float acc = 0.f;
    for (int r = r0; r < r1; r++) acc += LD(dout, (i64) r * cols + c, 1);
    partial[(i64) blockIdx.y * cols + c] = acc;
}

// dst[c] += the sum over chunks of partial[k, c]. A block takes 32 columns; its warps each add every warps-th chunk
// with four loads in flight (four accumulators, combined as (a0 + a1) + (a2 + a3)), then the warps' sums are added in
// warp order: a fixed order, so the result is the same run to run. blockDim.x: a multiple of 32, at most 1024;
// grid: one block per 32 columns. (Eight warps adding one chunk at a time, 64 dependent loads each at 512 chunks, made
// most of LayerNorm backward's time: session 5.)
extern "C" __global__ void add_column_partials(void* dst, const float* partial, int chunks, int cols, int bf) {
    __shared__ float s[32][33];
    const int cx = threadIdx.x & 31, g = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int c = blockIdx.x * 32 + cx;
    float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
    if (c < cols) {
        int k = g;
        for (; k + 3 * warps < chunks; k += 4 * warps) {
            a0 += partial[(i64) k * cols + c];
            a1 += partial[(i64) (k + warps) * cols + c];
            a2 += partial[(i64) (k + 2 * warps) * cols + c];
            a3 += partial[(i64) (k + 3 * warps) * cols + c];
        }
        for (; k < chunks; k += warps) a0 += partial[(i64) k * cols + c];
    }
    s[g][cx] = (a0 + a1) + (a2 + a3);
    __syncthreads();
    if (g == 0 && c < cols) {
        float t = 0.f;
        for (int j = 0; j < warps; j++) t += s[j][cx];
        ST(dst, c, 0, LD(dst, c, 0) + t);
    }
}

// Sums of squares of many ranges in one launch, in double: each range gets blocks in proportion to its length (at
// most SUM_BLOCKS), each block one partial; sum_partials_multi then adds a range's partials on the device. table:
// per range 5 i64 {address, count, 1 if bf16, first block, blocks}, ranges in order of first block. A 16-byte
// aligned range is read 8 values a step (16 bytes of bf16, 32 of fp32; one 4-byte load at a time left the kernel
// waiting on memory latency: 0.55 ms for GPT-2 124M's 0.5 GB of gradients, session 6), its tail and unaligned
// ranges value by value. (CPU reference: the sum of squares of each range, CpuBackend.sumOfSquares; only the
// association differs.)
extern "C" __global__ void sum_squares_multi(double* partial, const i64* table, int ranges) {
    __shared__ double s[256];
    int lo = 0, hi = ranges - 1; // the last range whose first block is at or before this one
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (table[5 * mid + 3] <= (i64) blockIdx.x) lo = mid; else hi = mid - 1;
    }
    const i64* t = table + 5 * lo;
    const i64 n = t[1];
    const bool half = t[2] != 0;
    const i64 stride = t[4] * blockDim.x;
    const i64 first = ((i64) blockIdx.x - t[3]) * blockDim.x + threadIdx.x;
    double acc = 0.0;
    i64 done = 0;
    if ((t[0] & 15) == 0) {
        const i64 groups = n / 8;
#pragma unroll 2
        for (i64 g = first; g < groups; g += stride) {
            float v[8];
            load8((const void*) t[0], 8 * g, half, v);
#pragma unroll
            for (int k = 0; k < 8; k++) acc += (double) v[k] * v[k];
        }
        done = groups * 8;
    }
    for (i64 i = done + first; i < n; i += stride) {
        double v = half ? bf2f(((const bf16_t*) t[0])[i]) : ((const float*) t[0])[i];
        acc += v * v;
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// sum_squares_multi's second stage: one warp a range adds its partials (lane j takes partials j, j+32, ..., then a
// fixed shuffle tree), so a range's sum depends on its own partials alone and the host copies one double a range.
extern "C" __global__ void sum_partials_multi(double* sums, const double* partial, const i64* table, int ranges) {
    const i64* t = table + 5 * blockIdx.x;
    double acc = 0.0;
    for (i64 j = threadIdx.x; j < t[4]; j += 32) acc += partial[t[3] + j];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
    if (threadIdx.x == 0) sums[blockIdx.x] = acc;
}

// The ranges' sums added in double in order from 0, written as Collectives.pair's float pair {hi, rest} (both
// round-to-nearest, as Java's (float) casts): a DP group gathers it without a trip through the host. One thread:
// the order of the additions is the host's (CPU reference: Backend.sumOfSquaresAsPair's default).
extern "C" __global__ void sum_as_float_pair(float* pair, const double* sums, int ranges) {
    double s = 0.0;
    for (int i = 0; i < ranges; i++) s = __dadd_rn(s, sums[i]);
    const float hi = __double2float_rn(s);
    pair[0] = hi;
    pair[1] = __double2float_rn(__dadd_rn(s, -(double) hi));
}

// Many copies, or zero fills, in one launch (Backend.copyRanges and fillZeros; CPU reference: copyRange per entry,
// fill with 0). table: per entry 6 i64 {dst, src (0: write zeros), count, storage (bit 0: dst bf16, bit 1: src
// bf16), first block, blocks}, entries in order of first block. Same storage: the bits move unchanged; fp32 to bf16
// rounds as copy_convert does.
extern "C" __global__ void copy_multi(const i64* table, int entries) {
    int lo = 0, hi = entries - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (table[6 * mid + 4] <= (i64) blockIdx.x) lo = mid; else hi = mid - 1;
    }
    const i64* t = table + 6 * lo;
    const i64 n = t[2];
    const int storage = (int) t[3];
    const i64 stride = t[5] * blockDim.x;
    const i64 first = ((i64) blockIdx.x - t[4]) * blockDim.x + threadIdx.x;
    // same storage, both ends 16-byte aligned: 16 bytes per access (4 floats or 8 bf16), then the tail one by one
    i64 done = 0;
    if (t[1] != 0 && (storage == 0 || storage == 3) && ((t[0] | t[1]) & 15) == 0) {
        const int per = storage == 0 ? 4 : 8;
        const i64 vecs = n / per;
        for (i64 v = first; v < vecs; v += stride) ((uint4*) t[0])[v] = ((const uint4*) t[1])[v];
        done = vecs * per;
    } else if (t[1] == 0 && (t[0] & 15) == 0) {
        const int per = (storage & 1) ? 8 : 4;
        const i64 vecs = n / per;
        for (i64 v = first; v < vecs; v += stride) ((uint4*) t[0])[v] = make_uint4(0, 0, 0, 0);
        done = vecs * per;
    }
    for (i64 i = done + first; i < n; i += stride) {
        if (t[1] == 0) {
            if (storage & 1) ((bf16_t*) t[0])[i] = 0; else ((float*) t[0])[i] = 0.f;
        } else if (storage == 3) {
            ((bf16_t*) t[0])[i] = ((const bf16_t*) t[1])[i];
        } else if (storage == 0) {
            ((float*) t[0])[i] = ((const float*) t[1])[i];
        } else {
            float v = (storage & 2) ? bf2f(((const bf16_t*) t[1])[i]) : ((const float*) t[1])[i];
            if (storage & 1) ((bf16_t*) t[0])[i] = f2bf(v); else ((float*) t[0])[i] = v;
        }
    }
}

// add_f32 with 16-byte accesses (n a multiple of 8, tensors from element 0).
extern "C" __global__ void add_vec(void* out, const void* a, const void* b, i64 n, int bf) {
    GRID_STRIDE(j, n / 8) {
        float x[8], y[8];
        load8(a, 8 * j, IS_BF(1), x);
        load8(b, 8 * j, IS_BF(2), y);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] += y[k];
        store8(out, 8 * j, IS_BF(0), x);
    }
}

extern "C" __global__ void any_nonfinite(int* flag, const void* x, i64 n, int bf) {
    GRID_STRIDE(i, n) if (!isfinite(LD(x, i, 1))) *flag = 1;
}
