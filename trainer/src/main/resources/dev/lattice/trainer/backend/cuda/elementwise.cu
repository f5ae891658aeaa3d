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

// dst[c] += sum over k in order of partial[k, c].
extern "C" __global__ void add_column_partials(void* dst, const float* partial, int chunks, int cols, int bf) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float acc = 0.f;
    for (int k = 0; k < chunks; k++) acc += partial[(i64) k * cols + c];
    ST(dst, c, 0, LD(dst, c, 0) + acc);
}

// Partial sums of squares in double, one per block, over a fixed grid: the host adds the partials in order.
extern "C" __global__ void sum_squares_partial(double* partial, const void* x, i64 n, int bf) {
    __shared__ double s[256];
    double acc = 0.0;
    GRID_STRIDE(i, n) { double v = LD(x, i, 1); acc += v * v; }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// sum_squares_partial of many ranges in one launch: blockIdx.y picks the range, gridDim.x is the single kernel's
// grid, so each range's partials (and their order) are exactly the single kernel's. table: per range 3 i64
// {address, count, 1 if bf16}.
extern "C" __global__ void sum_squares_multi(double* partial, const i64* table, int bf) {
    __shared__ double s[256];
    const i64* t = table + 3 * blockIdx.y;
    const i64 n = t[1];
    const bool half = t[2] != 0;
    double acc = 0.0;
    GRID_STRIDE(i, n) {
        double v = half ? bf2f(((const bf16_t*) t[0])[i]) : ((const float*) t[0])[i];
        acc += v * v;
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[(i64) blockIdx.y * gridDim.x + blockIdx.x] = s[0];
}

extern "C" __global__ void any_nonfinite(int* flag, const void* x, i64 n, int bf) {
    GRID_STRIDE(i, n) if (!isfinite(LD(x, i, 1))) *flag = 1;
}
