// CPU reference: AdamWKernels.update (torch.optim.AdamW, decoupled decay). The host computes the step's constants
// in double as torch does (decay = 1 - lr*wd, negStep = -lr/bc1, bc2Sqrt = sqrt(bc2)) and passes them as floats.
// Parameters, gradients and moments are fp32 (the master copy); LD/ST keep the one storage contract.

// One element of AdamW (adamw_update, adamw_multi), the gradient first multiplied by gradScale when scaled (__fmul_rn:
// never fused into a later add, so adamw_multi's values equal scale_f32 then adamw_update).
__device__ __forceinline__ void adamw_element(float& g, float& p, float& mi, float& vi, float gradScale, int scaled,
                                              float decay, float w1, float b2, float w2, float negStep,
                                              float bc2Sqrt, float eps) {
    // every operation rounded on its own (the _rn intrinsics are never contracted into FMAs), so both of
    // adamw_multi's paths and adamw_update give the same bits wherever the compiler inlines this
    if (scaled) g = __fmul_rn(g, gradScale);
    float pd = __fmul_rn(p, decay);
    mi = fabsf(w1) < 0.5f ? __fadd_rn(mi, __fmul_rn(w1, __fsub_rn(g, mi)))
                          : __fsub_rn(g, __fmul_rn(__fsub_rn(g, mi), __fsub_rn(1.f, w1)));
    vi = __fadd_rn(__fmul_rn(vi, b2), __fmul_rn(__fmul_rn(w2, g), g));
    float denom = __fadd_rn(__fdiv_rn(sqrtf(vi), bc2Sqrt), eps);
    p = __fadd_rn(pd, __fdiv_rn(__fmul_rn(negStep, mi), denom));
}

extern "C" __global__ void adamw_update(void* param, const void* grad, void* m, void* v, i64 n, float decay,
                                        float w1, float b2, float w2, float negStep, float bc2Sqrt, float eps, int bf) {
    GRID_STRIDE(i, n) {
        float g = LD(grad, i, 1), p = LD(param, i, 0), mi = LD(m, i, 2), vi = LD(v, i, 3);
        adamw_element(g, p, mi, vi, 1.f, 0, decay, w1, b2, w2, negStep, bc2Sqrt, eps);
        ST(param, i, 0, p);
        ST(m, i, 2, mi);
        ST(v, i, 3, vi);
    }
}

// Many AdamW segments in one launch (Backend.adamW(List<AdamWSegment>, ...); CPU reference: its default, scale_f32
// then AdamWKernels.update per segment). The update is adamw_update's, element by element; the gradient is first
// multiplied by gradScale (__fmul_rn: never fused into a later add, so the values equal the two-kernel ones) but
// not written back: the gradients' contents after the step are unspecified, and the write was 4 of the kernel's
// 30 bytes an element. table: per segment 9 i64 {param, grad, m, v, count, weight decay (double bits), first block,
// blocks, rounded}, segments in order of first block; fp32 buffers only. rounded (0: none) is the parameter's bf16
// copy that GEMMs read (CudaBackend.keepBf16Copies), written with the new value as copy_convert would round it. The
// table stays the same from step to step (CudaBackend keeps it on the device); lr comes per launch, and each segment's
// decay 1 − lr·wd is formed here in double, rounded once to float, as the host forms adamw_update's (the _rn
// intrinsics: no FMA contraction).
extern "C" __global__ void adamw_multi(const i64* table, int segments, float gradScale, int scaled, double lr,
                                       float w1, float b2, float w2, float negStep, float bc2Sqrt, float eps) {
    int lo = 0, hi = segments - 1; // the last segment whose first block is at or before this one
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (table[9 * mid + 6] <= (i64) blockIdx.x) lo = mid; else hi = mid - 1;
    }
    const i64* t = table + 9 * lo;
    float* param = (float*) t[0];
    const float* grad = (const float*) t[1];
    float* m = (float*) t[2];
    float* v = (float*) t[3];
    bf16_t* rounded = (bf16_t*) t[8];
    const i64 n = t[4];
    const float decay = __double2float_rn(__dsub_rn(1.0, __dmul_rn(lr, __longlong_as_double(t[5]))));
    const i64 stride = t[7] * blockDim.x;
    const i64 first = ((i64) blockIdx.x - t[6]) * blockDim.x + threadIdx.x;
    // 16-byte accesses where every buffer allows them (whole tensors do; a ZeRO shard may start anywhere)
    i64 done = 0;
    if (((t[0] | t[1] | t[2] | t[3]) & 15) == 0 && (t[8] & 7) == 0) {
        const i64 quads = n / 4;
        for (i64 q = first; q < quads; q += stride) {
            float4 g4 = ((const float4*) grad)[q], p4 = ((const float4*) param)[q];
            float4 m4 = ((const float4*) m)[q], v4 = ((const float4*) v)[q];
            float* gs = &g4.x; float* ps = &p4.x; float* ms = &m4.x; float* vs = &v4.x;
#pragma unroll
            for (int k = 0; k < 4; k++) {
                adamw_element(gs[k], ps[k], ms[k], vs[k], gradScale, scaled, decay, w1, b2, w2, negStep, bc2Sqrt,
                              eps);
            }
            ((float4*) param)[q] = p4;
            ((float4*) m)[q] = m4;
            ((float4*) v)[q] = v4;
            if (rounded) {
                ushort4 r4 = make_ushort4(f2bf(p4.x), f2bf(p4.y), f2bf(p4.z), f2bf(p4.w));
                ((ushort4*) rounded)[q] = r4;
            }
        }
        done = quads * 4;
    }
    for (i64 i = done + first; i < n; i += stride) {
        float g = grad[i], p = param[i], mi = m[i], vi = v[i];
        adamw_element(g, p, mi, vi, gradScale, scaled, decay, w1, b2, w2, negStep, bc2Sqrt, eps);
        param[i] = p;
        if (rounded) rounded[i] = f2bf(p);
        m[i] = mi;
        v[i] = vi;
    }
}
