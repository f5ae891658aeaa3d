// CPU references: LayerNormKernels, RmsNormKernels. One block per row for the row-wise parts; one thread per column
// walking the rows in order for the weight/bias gradients (deterministic, as the CPU's column-parallel loops).

extern "C" __global__ void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                             const float* weight, const float* bias, int N, int C, float eps) {
    int row = blockIdx.x;
    if (row >= N) return;
    const float* x = inp + (i64) row * C;
    float s = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c];
    float m = block_sum(s) / C;
    float v = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) { float d = x[c] - m; v += d * d; }
    float var = block_sum(v) / C;
    float r = 1.0f / sqrtf(var + eps);
    float* o = out + (i64) row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = (x[c] - m) * r * weight[c] + bias[c];
    if (threadIdx.x == 0) { mean[row] = m; rstd[row] = r; }
}

extern "C" __global__ void layernorm_backward_input(float* dinp, const float* dout, const float* inp,
                                                    const float* weight, const float* mean, const float* rstd,
                                                    int N, int C) {
    int row = blockIdx.x;
    if (row >= N) return;
    const float* x = inp + (i64) row * C;
    const float* g = dout + (i64) row * C;
    float m = mean[row], r = rstd[row];
    float a = 0.f, b = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float n = (x[c] - m) * r;
        float dn = weight[c] * g[c];
        a += dn;
        b += dn * n;
    }
    float dnMean = block_sum(a) / C;
    float dnNormMean = block_sum(b) / C;
    float* d = dinp + (i64) row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float n = (x[c] - m) * r;
        float dn = weight[c] * g[c];
        d[c] += (dn - dnMean - n * dnNormMean) * r;
    }
}

// Partials of dweight[c] = sum_r norm[r, c] dout[r, c] and dbias[c] = sum_r dout[r, c] over chunk blockIdx.y of
// the rows (pw, pb: [chunks, C]); add_column_partials finishes them in chunk order.
extern "C" __global__ void layernorm_backward_params_partial(float* pw, float* pb, const float* dout,
                                                             const float* inp, const float* mean,
                                                             const float* rstd, int N, int C, int rowsPerChunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(N, r0 + rowsPerChunk);
    float dw = 0.f, db = 0.f;
    for (int r = r0; r < r1; r++) {
        float g = dout[(i64) r * C + c];
        dw += (inp[(i64) r * C + c] - mean[r]) * rstd[r] * g;
        db += g;
    }
    pw[(i64) blockIdx.y * C + c] = dw;
    pb[(i64) blockIdx.y * C + c] = db;
}

extern "C" __global__ void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N,
                                           int C, float eps) {
    int row = blockIdx.x;
    if (row >= N) return;
    const float* x = inp + (i64) row * C;
    float s = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c] * x[c];
    float r = 1.0f / sqrtf(block_sum(s) / C + eps);
    float* o = out + (i64) row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = weight[c] * (x[c] * r);
    if (threadIdx.x == 0) rstd[row] = r;
}

extern "C" __global__ void rmsnorm_backward_input(float* dinp, const float* dout, const float* inp,
                                                  const float* weight, const float* rstd, int N, int C) {
    int row = blockIdx.x;
    if (row >= N) return;
    const float* x = inp + (i64) row * C;
    const float* g = dout + (i64) row * C;
    float r = rstd[row];
    float a = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) a += weight[c] * g[c] * (x[c] * r);
    float dot = block_sum(a) / C;
    float* d = dinp + (i64) row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float n = x[c] * r;
        d[c] += (weight[c] * g[c] - n * dot) * r;
    }
}

extern "C" __global__ void rmsnorm_backward_weight_partial(float* pw, const float* dout, const float* inp,
                                                           const float* rstd, int N, int C, int rowsPerChunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(N, r0 + rowsPerChunk);
    float dw = 0.f;
    for (int r = r0; r < r1; r++) dw += dout[(i64) r * C + c] * (inp[(i64) r * C + c] * rstd[r]);
    pw[(i64) blockIdx.y * C + c] = dw;
}
