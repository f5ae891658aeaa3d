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
