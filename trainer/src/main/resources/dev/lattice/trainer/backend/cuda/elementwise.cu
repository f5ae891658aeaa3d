// CPU references: CpuBackend (fill, copy), ResidualKernels (add, accumulate), AdamWKernels.scale/sumOfSquares,
// Bf16.round, CpuBackend.addBias/biasBackward/hasNonFinite.

extern "C" __global__ void fill_f32(float* x, float v, i64 n) {
    GRID_STRIDE(i, n) x[i] = v;
}

extern "C" __global__ void add_f32(float* out, const float* a, const float* b, i64 n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

extern "C" __global__ void accumulate_f32(float* y, const float* x, i64 n) {
    GRID_STRIDE(i, n) y[i] += x[i];
}

extern "C" __global__ void scale_f32(float* x, float s, i64 n) {
    GRID_STRIDE(i, n) x[i] *= s;
}

// Round to nearest even on the top 16 bits; NaN kept as is (Bf16.round).
extern "C" __global__ void cast_bf16(float* dst, const float* src, i64 n) {
    GRID_STRIDE(i, n) {
        float x = src[i];
        if (isnan(x)) { dst[i] = x; continue; }
        unsigned int bits = __float_as_uint(x);
        unsigned int lsb = (bits >> 16) & 1u;
        bits += 0x7FFFu + lsb;
        dst[i] = __uint_as_float(bits & 0xFFFF0000u);
    }
}

extern "C" __global__ void add_bias(float* out, const float* bias, int rows, int cols) {
    i64 n = (i64) rows * cols;
    GRID_STRIDE(i, n) out[i] += bias[i % cols];
}

// Column sums in two deterministic passes: chunk k (blockIdx.y) of rowsPerChunk rows writes partial[k, c]; then
// add_column_partials adds the chunks in order. (The CPU sums all rows in order; only the association differs.)
extern "C" __global__ void bias_backward_partial(float* partial, const float* dout, int rows, int cols,
                                                 int rowsPerChunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
    float acc = 0.f;
    for (int r = r0; r < r1; r++) acc += dout[(i64) r * cols + c];
    partial[(i64) blockIdx.y * cols + c] = acc;
}

// dst[c] += sum over k in order of partial[k, c].
extern "C" __global__ void add_column_partials(float* dst, const float* partial, int chunks, int cols) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float acc = 0.f;
    for (int k = 0; k < chunks; k++) acc += partial[(i64) k * cols + c];
    dst[c] += acc;
}

// Partial sums of squares in double, one per block, over a fixed grid: the host adds the partials in order.
extern "C" __global__ void sum_squares_partial(double* partial, const float* x, i64 n) {
    __shared__ double s[256];
    double acc = 0.0;
    GRID_STRIDE(i, n) { double v = x[i]; acc += v * v; }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

extern "C" __global__ void any_nonfinite(int* flag, const float* x, i64 n) {
    GRID_STRIDE(i, n) if (!isfinite(x[i])) *flag = 1;
}
