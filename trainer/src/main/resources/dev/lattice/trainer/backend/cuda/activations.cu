// CPU references: GeluKernels (tanh GELU, GPT-2), SwiGluKernels (Llama's SiLU-gated unit). Tensors fp32 or bf16.

#define GELU_S 0.7978845608028654f
#define GELU_K 0.044715f

extern "C" __global__ void gelu_forward(void* out, const void* inp, i64 n, int bf) {
    GRID_STRIDE(i, n) {
        float x = LD(inp, i, 1);
        float t = tanhf(GELU_S * (x + GELU_K * x * x * x));
        ST(out, i, 0, 0.5f * x * (1.f + t));
    }
}

// gelu_forward with 16-byte accesses (n a multiple of 8, tensors from element 0), tanh through the logistic function:
// 0.5·x·(1 + tanh(u)) = x / (1 + exp(-2u)), with the fast exponential and division (within a few 1e-7 relative of
// gelu_forward; tanhf's instruction sequence made the recomputation in the backward pass compute-bound).
extern "C" __global__ void gelu_forward_vec(void* out, const void* inp, i64 n, int bf) {
    GRID_STRIDE(j, n / 8) {
        float v[8];
        load8(inp, 8 * j, IS_BF(1), v);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float x = v[k];
            float u = GELU_S * (x + GELU_K * x * x * x);
            v[k] = __fdividef(x, 1.f + __expf(-2.f * u));
        }
        store8(out, 8 * j, IS_BF(0), v);
    }
}

// dinp += gelu'(x) * dout.
extern "C" __global__ void gelu_backward(void* dinp, const void* inp, const void* dout, i64 n, int bf) {
    GRID_STRIDE(i, n) {
        float x = LD(inp, i, 1);
        float t = tanhf(GELU_S * (x + GELU_K * x * x * x));
        float sech2 = 1.f - t * t;
        float g = 0.5f * (1.f + t) + 0.5f * x * sech2 * GELU_S * (1.f + 3.f * GELU_K * x * x);
        ST(dinp, i, 0, LD(dinp, i, 0) + g * LD(dout, i, 2));
    }
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + expf(-x)); }

// inp [N, 2F] = [gate | up] -> out [N, F] = silu(gate) * up.
extern "C" __global__ void swiglu_forward(void* out, const void* inp, int N, int F, int bf) {
    i64 total = (i64) N * F;
    GRID_STRIDE(i, total) {
        i64 r = i / F; int j = (int) (i % F);
        float g = LD(inp, r * 2 * F + j, 1), u = LD(inp, r * 2 * F + F + j, 1);
        ST(out, i, 0, (g * sigmoidf_(g)) * u);
    }
}

// Writes dinp [N, 2F].
extern "C" __global__ void swiglu_backward(void* dinp, const void* inp, const void* dout, int N, int F, int bf) {
    i64 total = (i64) N * F;
    GRID_STRIDE(i, total) {
        i64 r = i / F; int j = (int) (i % F);
        float g = LD(inp, r * 2 * F + j, 1), u = LD(inp, r * 2 * F + F + j, 1), dy = LD(dout, i, 2);
        float s = sigmoidf_(g);
        ST(dinp, r * 2 * F + j, 0, dy * u * (s * (1.f + g * (1.f - s))));
        ST(dinp, r * 2 * F + F + j, 0, dy * (g * s));
    }
}
