"""What only ``python -m d2l_alexnet.bench`` needs of MXNet (``core.contract.BENCH_HOOKS``):
a matmul for the peak and the device's memory in use. A lesson never imports this file."""

import mxnet as mx

from .runtime import BFLOAT16


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul for the benchmark's peak; returns ``(function, flops per
    call)``, in float32 or (``"bf16"``) bfloat16."""
    a = mx.nd.random.normal(shape=(size, size), ctx=device)
    b = mx.nd.random.normal(shape=(size, size), ctx=device)
    if precision == "bf16":
        a, b = a.astype(BFLOAT16), b.astype(BFLOAT16)

    def run():
        # FullyConnected (a @ b.T) is what Dense runs: oneDNN, faster than this wheel's BLAS nd.dot.
        mx.nd.FullyConnected(a, b, no_bias=True, num_hidden=size).wait_to_read()

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """GPU memory in use (MXNet's pool keeps what it once allocated, so this is about the peak,
    plus the CUDA context); ``None`` on the CPU (the benchmark reports max RSS)."""
    if device.device_type == "gpu":
        free, total = mx.context.gpu_memory_info(device.device_id)
        return total - free
    return None
