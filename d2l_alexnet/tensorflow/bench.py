"""What only ``python -m d2l_alexnet.bench`` needs (``core.contract.BENCH_HOOKS``)."""

from .runtime import tf


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul in ``precision`` for the benchmark's peak; returns
    ``(function, flops per call)``."""
    dtype = tf.bfloat16 if precision == "bf16" else tf.float32
    with tf.device(device):
        a, b = (tf.cast(tf.random.normal((size, size), seed=seed), dtype) for seed in (1, 2))

    def run():
        with tf.device(device):
            tf.reduce_sum(tf.matmul(a, b)).numpy()  # .numpy() waits for the device

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """Peak device memory for a GPU; ``None`` on the CPU (the benchmark reports max RSS)."""
    if "GPU" in device.upper():
        return tf.config.experimental.get_memory_info(device.strip("/"))["peak"]
    return None
