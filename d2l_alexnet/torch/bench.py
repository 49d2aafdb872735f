"""What only ``python -m d2l_alexnet.bench`` needs from PyTorch (``core.contract.BENCH_HOOKS``);
a lesson never imports it."""

import torch


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul in ``precision`` for the benchmark's peak; returns
    ``(function, flops per call)``."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)

    def run():
        (a @ b).sum().item()  # .item() waits for the device

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """Peak device memory for a GPU; ``None`` on the CPU (the benchmark reports max RSS)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return None
