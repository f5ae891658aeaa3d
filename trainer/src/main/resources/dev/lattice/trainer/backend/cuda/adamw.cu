// CPU reference: AdamWKernels.update (torch.optim.AdamW, decoupled decay). The host computes the step's constants
// in double as torch does (decay = 1 - lr*wd, negStep = -lr/bc1, bc2Sqrt = sqrt(bc2)) and passes them as floats.
// Parameters, gradients and moments are fp32 (the master copy); LD/ST keep the one storage contract.
extern "C" __global__ void adamw_update(void* param, const void* grad, void* m, void* v, i64 n, float decay,
                                        float w1, float b2, float w2, float negStep, float bc2Sqrt, float eps, int bf) {
    GRID_STRIDE(i, n) {
        float g = LD(grad, i, 1);
        float p = LD(param, i, 0) * decay;
        float mi = LD(m, i, 2);
        mi = fabsf(w1) < 0.5f ? mi + w1 * (g - mi) : g - (g - mi) * (1.f - w1);
        float vi = LD(v, i, 3) * b2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2Sqrt + eps;
        ST(param, i, 0, p + negStep * mi / denom);
        ST(m, i, 2, mi);
        ST(v, i, 3, vi);
    }
}

// Many AdamW segments in one launch (Backend.adamW(List<AdamWSegment>, ...); CPU reference: its default, scale_f32
// then AdamWKernels.update per segment). The update is adamw_update's, element by element; the gradient is first
// multiplied by gradScale and written back as scale_f32 would (__fmul_rn: never fused into a later add, so the
// values equal the two-kernel ones). table: per segment 9 i64 {param, grad, m, v, count, decay bits, first block,
// blocks, rounded}, segments in order of first block; fp32 buffers only. rounded (0: none) is the parameter's bf16
// copy that GEMMs read (CudaBackend.keepBf16Copies), written with the new value as copy_convert would round it.
extern "C" __global__ void adamw_multi(const i64* table, int segments, float gradScale, int scaled, float w1,
                                       float b2, float w2, float negStep, float bc2Sqrt, float eps) {
    int lo = 0, hi = segments - 1; // the last segment whose first block is at or before this one
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (table[9 * mid + 6] <= (i64) blockIdx.x) lo = mid; else hi = mid - 1;
    }
    const i64* t = table + 9 * lo;
    float* param = (float*) t[0];
    float* grad = (float*) t[1];
    float* m = (float*) t[2];
    float* v = (float*) t[3];
    bf16_t* rounded = (bf16_t*) t[8];
    const i64 n = t[4];
    const float decay = __int_as_float((int) t[5]);
    const i64 stride = t[7] * blockDim.x;
    for (i64 i = ((i64) blockIdx.x - t[6]) * blockDim.x + threadIdx.x; i < n; i += stride) {
        float g = grad[i];
        if (scaled) {
            g = __fmul_rn(g, gradScale);
            grad[i] = g;
        }
        float p = param[i] * decay;
        float mi = m[i];
        mi = fabsf(w1) < 0.5f ? mi + w1 * (g - mi) : g - (g - mi) * (1.f - w1);
        float vi = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2Sqrt + eps;
        float np = p + negStep * mi / denom;
        param[i] = np;
        if (rounded) rounded[i] = f2bf(np);
        m[i] = mi;
        v[i] = vi;
    }
}
