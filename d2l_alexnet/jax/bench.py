"""What only ``python -m d2l_alexnet.bench`` needs of the JAX backend (``core.contract``'s
``BENCH_HOOKS``); a lesson never imports it."""

import jax
import jax.numpy as jnp


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul in ``precision`` for the benchmark's peak; returns
    ``(function, flops per call)``."""
    dtype = jnp.bfloat16 if precision == "bf16" else jnp.float32
    a, b = (jax.device_put(jax.random.normal(key, (size, size), dtype), device)
            for key in jax.random.split(jax.random.key(0)))
    matmul = jax.jit(jnp.matmul)

    def run():
        matmul(a, b).block_until_ready()

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """Peak device memory for a GPU; ``None`` on the CPU (the benchmark reports max RSS)."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    return stats.get("peak_bytes_in_use") if stats else None
