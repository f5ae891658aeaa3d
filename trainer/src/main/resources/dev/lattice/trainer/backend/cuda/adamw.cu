// CPU reference: AdamWKernels.update (torch.optim.AdamW, decoupled decay). The host computes the step's constants
// in double as torch does (decay = 1 - lr*wd, negStep = -lr/bc1, bc2Sqrt = sqrt(bc2)) and passes them as floats.
extern "C" __global__ void adamw_update(float* param, const float* grad, float* m, float* v, i64 n, float decay,
                                        float w1, float b2, float w2, float negStep, float bc2Sqrt, float eps) {
    GRID_STRIDE(i, n) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i];
        mi = fabsf(w1) < 0.5f ? mi + w1 * (g - mi) : g - (g - mi) * (1.f - w1);
        float vi = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2Sqrt + eps;
        param[i] = p + negStep * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}
