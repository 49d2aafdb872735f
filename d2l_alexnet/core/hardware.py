"""What the CPU computes quickly, read without any framework: whether bf16 pays off.

Mixed precision (bf16 compute, fp32 weights) is several times faster than fp32 on a CPU that
multiplies bfloat16 in hardware (Intel's AMX tiles, or AVX-512's bf16 dot products), and far
slower on one that does not, where the frameworks emulate it: on an AVX2-only AMD EPYC, a
1024×1024 matmul took 0.021 s in fp32 and 2.6 s in bf16 (PyTorch 2.13), and a one-step profile
in bf16 spent 12 minutes measuring its matmul peak.
"""

from __future__ import annotations

import platform

from .types import PathLike

__all__ = ["BF16_FEATURES", "CPU_FEATURES", "cpu_description", "cpu_precision"]

# The CPU instructions that decide the bf16 figures: AMX's bf16 tiles (oneDNN's fastest path),
# AVX-512's bf16 dot products, or neither.
CPU_FEATURES = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
# Either of these computes bf16 natively.
BF16_FEATURES = ("avx512_bf16", "amx_bf16")


def cpu_description(cpuinfo: PathLike = "/proc/cpuinfo",
                    ) -> tuple[str | None, list[str] | None]:
    """``(model name, features)``: the CPU's model and which of ``CPU_FEATURES`` it has, read
    from Linux's ``cpuinfo``; elsewhere the platform's processor string and ``None``."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return platform.processor() or None, None
    fields: dict[str, str] = {}
    for line in lines:  # the first processor's block is enough: every core is the same
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    model = fields.get("model name") or platform.processor() or None
    return model, [feature for feature in CPU_FEATURES if feature in flags]


def cpu_precision(cpuinfo: PathLike = "/proc/cpuinfo") -> str:
    """``"bf16"`` where this CPU computes bfloat16 natively (:data:`BF16_FEATURES`), else
    ``"fp32"``; also ``"fp32"`` where the features cannot be read (not Linux)."""
    _, features = cpu_description(cpuinfo)
    return "bf16" if features and any(name in features for name in BF16_FEATURES) else "fp32"
