// CPU references: GeluKernels (tanh GELU, GPT-2), SwiGluKernels (Llama's SiLU-gated unit).

#define GELU_S 0.7978845608028654f
#define GELU_K 0.044715f

extern "C" __global__ void gelu_forward(float* out, const float* inp, i64 n) {
    GRID_STRIDE(i, n) {
        float x = inp[i];
        float t = tanhf(GELU_S * (x + GELU_K * x * x * x));
        out[i] = 0.5f * x * (1.f + t);
    }
}

// dinp += gelu'(x) * dout.
extern "C" __global__ void gelu_backward(float* dinp, const float* inp, const float* dout, i64 n) {
    GRID_STRIDE(i, n) {
        float x = inp[i];
        float t = tanhf(GELU_S * (x + GELU_K * x * x * x));
        float sech2 = 1.f - t * t;
        float g = 0.5f * (1.f + t) + 0.5f * x * sech2 * GELU_S * (1.f + 3.f * GELU_K * x * x);
        dinp[i] += g * dout[i];
    }
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + expf(-x)); }

// inp [N, 2F] = [gate | up] -> out [N, F] = silu(gate) * up.
extern "C" __global__ void swiglu_forward(float* out, const float* inp, int N, int F) {
    i64 total = (i64) N * F;
    GRID_STRIDE(i, total) {
        i64 r = i / F; int j = (int) (i % F);
        float g = inp[r * 2 * F + j], u = inp[r * 2 * F + F + j];
        out[i] = (g * sigmoidf_(g)) * u;
    }
}

// Writes dinp [N, 2F].
extern "C" __global__ void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F) {
    i64 total = (i64) N * F;
    GRID_STRIDE(i, total) {
        i64 r = i / F; int j = (int) (i % F);
        float g = inp[r * 2 * F + j], u = inp[r * 2 * F + F + j], dy = dout[i];
        float s = sigmoidf_(g);
        dinp[r * 2 * F + j] = dy * u * (s * (1.f + g * (1.f - s)));
        dinp[r * 2 * F + F + j] = dy * (g * s);
    }
}
