"""Times PyTorch's SDPA backends on Lattice's attention shapes (bf16, causal), CUDA-event timed, median of reps.
Q, K, V are strided views of one fused [B, T, H, 3, D] buffer (per head q|k|v, as Lattice's MHA QKV row).
   python3 sdpa_bench.py [--reps 50]"""
import sys, torch, statistics
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend

reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 50
print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version(), torch.cuda.get_device_name(0))


def timed(fn, reps, warm=10):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


for (B, H, T, D) in [(16, 12, 1024, 64), (16, 16, 1024, 64)]:
    flops_f = 4 * B * H * T * T * D / 2  # causal half
    g = torch.Generator(device="cuda").manual_seed(0)
    qkv = torch.randn(B, T, H, 3, D, device="cuda", dtype=torch.bfloat16, generator=g)
    q, k, v = (qkv[:, :, :, i, :].transpose(1, 2) for i in range(3))
    do = torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, generator=g)
    for name, be in [("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
                     ("efficient", SDPBackend.EFFICIENT_ATTENTION)]:
        try:
            with sdpa_kernel(be):
                qq, kk, vv = (x.detach().requires_grad_(True) for x in (q, k, v))
                fwd = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), reps)
                def fb():
                    o = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True)
                    torch.autograd.grad(o, (qq, kk, vv), do)
                both = timed(fb, reps)
            bwd = both - fwd
            print(f"B={B} H={H} T={T} D={D} {name:9s} fwd {fwd:.3f} ms ({flops_f/fwd/1e9:.0f} TFLOP/s)  "
                  f"fwd+bwd {both:.3f} ms  bwd~ {bwd:.3f} ms ({2.5*flops_f/bwd/1e9:.0f} TFLOP/s)  x12 layers: "
                  f"fwd {12*fwd:.2f} bwd {12*bwd:.2f} ms", flush=True)
        except Exception as e:
            print(f"B={B} H={H} {name}: failed: {str(e)[:300]}", flush=True)
