"""Devices, the seed (and the keys ``get_key`` splits from it), processes and host arrays: what
the other files of the JAX backend need."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from ..core.contract import device_choosers
from ..core.errors import DeviceError

#: Precisions this backend trains in (bf16: params and inputs cast inside the loss).
PRECISIONS = ("fp32", "bf16")
#: Parameter layout (core/weights.py): HWIO kernels, (in, out) dense kernels, H×W×C flatten.
LAYOUT = "NHWC"

# JAX has no global RNG: the Trainer derives its init and dropout keys from this seed. Read it
# as `runtime._seed` (set_seed rebinds it).
_seed = 0


def check_platforms() -> None:
    """A :class:`DeviceError` in one line when JAX can start none of its platforms here, as
    when ``JAX_PLATFORMS`` names one this jaxlib lacks (``cuda`` without ``jax[cuda12]`` or
    without a visible GPU, ``tpu``, a typo); starts JAX's platforms otherwise.

    JAX's own failure said nothing a person could act on: ``cuda`` without a GPU is skipped, so
    no platform is left and an ``assert`` fails (under ``python -O``, a ``RuntimeError`` listing
    no backends, or an ``AttributeError`` on ``None``), even with ``--device cpu``.
    """
    try:
        jax.devices()
    except (AssertionError, AttributeError, RuntimeError) as error:
        raise DeviceError(_no_platform_message(error)) from error


def _no_platform_message(error: BaseException) -> str:
    # JAX's reason, without its advice, which names the variable but not the other fix; the
    # assert (or python -O's None) says nothing: every platform named was skipped.
    said = str(error).split(" (set JAX_PLATFORMS")[0].split(" (you may need")[0].strip()
    why = f" ({said})" if isinstance(error, RuntimeError) and said else " (it found no device)"
    named = jax.config.jax_platforms
    if not named:
        return (f"JAX could start none of its platforms here{why}: uninstall the JAX plugin "
                f"that fails, or set JAX_PLATFORMS=cpu")
    nvidia = (" (NVIDIA GPUs: pip install -U 'jax[cuda12]', and a visible GPU)"
              if "cuda" in named or "gpu" in named else "")
    return (f"JAX_PLATFORMS={named} names no platform JAX can start here{why}: unset "
            f"JAX_PLATFORMS (or set it to cpu) to run on the devices JAX finds, or install the "
            f"JAX build for {named}{nvidia}")


def cpu() -> jax.Device:
    check_platforms()
    return jax.devices("cpu")[0]


def gpu(i: int = 0) -> jax.Device:
    return jax.devices("gpu")[i]


def num_gpus() -> int:
    check_platforms()
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
        check_platforms()  # (left till now: JAX starts its platforms after joining the others)


def set_seed(seed: int) -> None:
    """Set the seed the ``Trainer`` derives its initialization and dropout keys from, and
    :func:`get_key` its keys."""
    global _seed, _lesson_key
    _seed = int(seed)
    _lesson_key = None


# The key get_key splits: made from the seed at the first call after set_seed (or import).
_lesson_key: jax.Array | None = None


def get_key() -> jax.Array:
    """A fresh random key at every call (the book's ``d2l.get_key()``, which its JAX cells pass
    to ``jax.random.normal`` and ``model.init``): split from one key kept here, made from the
    seed (``set_seed``), so that a lesson's cells draw the same numbers again after
    ``set_seed(n)``. Its keys are apart from those the ``Trainer`` derives from the seed."""
    global _lesson_key
    if _lesson_key is None:
        _lesson_key = jax.random.fold_in(jax.random.key(_seed), 1)
    _lesson_key, key = jax.random.split(_lesson_key)
    return key


def _keys(seed):
    """The initialization key and the dropout key of ``seed``."""
    return jax.random.split(jax.random.key(seed))


def to_numpy(array: Any) -> np.ndarray:
    """An array as a numpy array (on the host). A replicated array of a multi-host run is read
    from this host's copy."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        array = array.addressable_shards[0].data
    return np.asarray(jax.device_get(array))


# Platforms named (JAX_PLATFORMS, or jax_platforms set before this import) are checked now, so
# that no command or lesson meets JAX's failure wherever it first touches an array. Not on a
# multi-host run, which must join the others before JAX starts (initialize_distributed checks).
# Without a name JAX falls back to its CPU, which is always there: nothing to check.
if jax.config.jax_platforms and not os.environ.get("JAX_COORDINATOR_ADDRESS"):
    check_platforms()
