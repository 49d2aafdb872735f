"""Devices, the seed, processes and host arrays: what the other files of the JAX backend need."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from ..core.contract import device_choosers

#: Precisions this backend trains in (bf16: params and inputs cast inside the loss).
PRECISIONS = ("fp32", "bf16")
#: Parameter layout (core/weights.py): HWIO kernels, (in, out) dense kernels, H×W×C flatten.
LAYOUT = "NHWC"

# JAX has no global RNG: the Trainer derives its init and dropout keys from this seed. Read it
# as `runtime._seed` (set_seed rebinds it).
_seed = 0


def cpu() -> jax.Device:
    return jax.devices("cpu")[0]


def gpu(i: int = 0) -> jax.Device:
    return jax.devices("gpu")[i]


def num_gpus() -> int:
    try:
        return len(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib, or no device
        return 0


try_gpu, try_all_gpus = device_choosers(cpu, gpu, num_gpus)


def initialize_distributed() -> None:
    """Join the other hosts of a multi-host run when ``JAX_COORDINATOR_ADDRESS`` (with
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``) is set, through ``jax.distributed.initialize``;
    must run before anything else touches JAX (the CLI calls it first). Does nothing otherwise."""
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if address and not jax.distributed.is_initialized():
        # CPU devices of several processes talk through Gloo (without it, XLA:CPU has no
        # collectives across processes); GPUs use NCCL whatever this says.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(address, int(os.environ["JAX_NUM_PROCESSES"]),
                                   int(os.environ["JAX_PROCESS_ID"]))


def set_seed(seed: int) -> None:
    """Set the seed the ``Trainer`` derives its initialization and dropout keys from."""
    global _seed
    _seed = int(seed)


def _keys(seed):
    """The initialization key and the dropout key of ``seed``."""
    return jax.random.split(jax.random.key(seed))


def to_numpy(array: Any) -> np.ndarray:
    """An array as a numpy array (on the host). A replicated array of a multi-host run is read
    from this host's copy."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        array = array.addressable_shards[0].data
    return np.asarray(jax.device_get(array))
