# NCCL's own speed between the GPUs of this machine, through PyTorch (torchrun --nproc_per_node N): what a TP
# collective of the sizes Lattice's TP runs use can cost at best, beside the link topology (nvidia-smi topo -m).
import time

import torch
import torch.distributed as dist

dist.init_process_group("nccl")
rank, n = dist.get_rank(), dist.get_world_size()
torch.cuda.set_device(rank)
for mb in (8, 16, 64, 256):
    x = torch.ones(mb * 2**20 // 4, device="cuda")
    gathered = torch.empty(n * x.numel(), device="cuda")
    scattered = torch.empty(x.numel() // n, device="cuda")
    ops = {"all_reduce": lambda: dist.all_reduce(x),
           "all_gather (MB in per rank)": lambda: dist.all_gather_into_tensor(gathered, x),
           "reduce_scatter (MB in)": lambda: dist.reduce_scatter_tensor(scattered, x)}
    for name, op in ops.items():
        for _ in range(5):
            op()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(50):
            op()
        torch.cuda.synchronize()
        dt = (time.perf_counter() - t) / 50
        if rank == 0:
            moved = 2 * (n - 1) / n if name == "all_reduce" else (n - 1) / n
            if name.startswith("all_gather"):
                moved = n - 1
            print(f"{name} {mb} MB fp32: {dt * 1e6:.0f} us, bus bandwidth {mb * 2**20 * moved / dt / 1e9:.0f} GB/s")
dist.destroy_process_group()
