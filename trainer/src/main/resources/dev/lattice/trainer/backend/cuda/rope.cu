// CPU reference: RopeKernels (HF rotate_half on the q and k heads of the fused, grouped QKV buffer; in place).
// Row layout per kv group g: [q heads (Q of them) | k_g | v_g], each d floats (QkvLayout). fp32 or bf16 storage.

// One thread per (token, rotated head, i < d/2). sign = +1 forward, -1 backward (the inverse rotation).
extern "C" __global__ void rope_apply(void* buf, int BT, int T, int H, int G, int d, float theta, float sign, int bf) {
    int half = d / 2, q = H / G;
    int rotated = G * (q + 1);
    i64 total = (i64) BT * rotated * half;
    int row = (H + 2 * G) * d;
    GRID_STRIDE(idx, total) {
        int i = (int) (idx % half);
        i64 rest = idx / half;
        int hh = (int) (rest % rotated);
        i64 bt = rest / rotated;
        int g = hh / (q + 1), j = hh % (q + 1);
        int t = (int) (bt % T);
        float inv = 1.f / powf(theta, (float) (2 * i) / (float) d);
        float angle = (float) t * inv;
        float c = cosf(angle), s = sign * sinf(angle);
        i64 h0 = bt * row + (i64) (g * (q + 2) + j) * d;
        float x1 = LD(buf, h0 + i, 0), x2 = LD(buf, h0 + half + i, 0);
        ST(buf, h0 + i, 0, x1 * c - x2 * s);
        ST(buf, h0 + half + i, 0, x2 * c + x1 * s);
    }
}
