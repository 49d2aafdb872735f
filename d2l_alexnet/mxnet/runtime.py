"""MXNet's environment, devices, seeds and host arrays: what the backend's other files need.

The package imports this file first: it sets the two variables MXNet reads when it loads.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..core.errors import D2LAlexNetError
from ..core.hardware import cpu_description
from ..core.contract import device_choosers

# MXNet keeps cores back for its engine's worker threads and so runs each operator on fewer
# OpenMP threads than there are cores. Its operators are the work, so give them every core
# this process may use, unless the user chose a number.
_usable_cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count())
os.environ.setdefault("OMP_NUM_THREADS", str(_usable_cores))
# The default threaded engine runs independent operators at once, so a convolution's backward
# pass gets a varying share of those threads and sums its weight gradient in a varying order:
# the last bits differed between two identical runs (momentum with weight decay), and a resumed
# run was no longer exact. The synchronous engine gives each operator all of them, every time;
# it measured no slower.
os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
import mxnet as mx  # noqa: E402  (reads both variables when it loads)


def _start_engine_without_its_log_line():
    """MXNet starts its engine at the first operation and, for a non-default engine, logs a
    line to stderr: the CLI's one-line errors would get a second line. Start it here with that
    line dropped (anything else written meanwhile is passed on)."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            mx.nd.zeros(1).wait_to_read()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        for line in caught.read().decode(errors="replace").splitlines(keepends=True):
            if "MXNet start using engine" not in line:
                sys.stderr.write(line)


_start_engine_without_its_log_line()

#: Precisions this backend trains in. bf16 is MXNet 1.9's automatic mixed precision on oneDNN
#: (``mxnet.contrib.amp``): fp32 parameters, bf16 convolutions and matrix products. Its oneDNN
#: has bf16 convolutions for AVX-512 CPUs only (on an AVX2-only AMD EPYC, making one failed:
#: "could not create a primitive descriptor iterator"), so elsewhere it is fp32 alone.
PRECISIONS = ("fp32", "bf16") if "avx512f" in (cpu_description()[1] or ()) else ("fp32",)
# How MXNet's AMP marks a bfloat16 array (numpy has no such type: two bytes, a structured dtype).
BFLOAT16 = np.dtype([("bfloat16", np.uint16)])
_bf16_amp_on = False
#: Parameter layout (core/weights.py): OIHW kernels, (out, in) dense weights, C×H×W flatten.
LAYOUT = "NCHW"


def cpu() -> mx.Context:
    return mx.cpu()


def gpu(i: int = 0) -> mx.Context:
    return mx.gpu(i)


def num_gpus() -> int:
    return mx.context.num_gpus()


try_gpu, try_all_gpus = device_choosers(cpu, gpu, num_gpus)


def set_seed(seed: int) -> None:
    """Seed every RNG the model and its dropout draw from (MXNet's, on every device)."""
    global _seed
    _seed = int(seed)
    mx.random.seed(seed)


# The Trainer reseeds dropout from this and the step number (see _step_seed); read it as
# ``runtime._seed``, where set_seed changes it.
_seed = 0


def _step_seed(seed, step):
    """MXNet's RNG state can be neither read nor set, so a checkpoint could not carry it:
    instead, after each training step, the RNG is reseeded from ``(seed, next step)``. Step 0
    draws from ``set_seed`` as ever; every later step's dropout masks are a pure function of the
    seed and the step (as JAX's ``fold_in(key, step)``), so a resumed run draws the same."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] & 0x7FFFFFFF)


def initialize_distributed() -> None:
    """Nothing to join: this backend trains on one machine only, and the contexts of one
    process need no joining."""


class NumpyModeError(D2LAlexNetError, RuntimeError):
    """A model built with MXNet's NumPy mode off is used with it on, or the other way round."""


def numpy_mode() -> bool:
    """Whether MXNet's NumPy mode is on (``npx.set_np()``, the book's MXNet code's first line):
    then Gluon's layers and this backend's batches are ``mx.np`` arrays, else ``mx.nd``'s."""
    return bool(mx.util.is_np_array())


def device_array(values: Any, ctx: mx.Context | None = None, dtype: Any = None) -> Any:
    """``values`` (numpy) copied to ``ctx`` as an array of the mode in force: ``mx.np`` in
    NumPy mode, else a classic ``mx.nd`` one."""
    make = mx.np.array if numpy_mode() else mx.nd.array
    return make(values, ctx=ctx or mx.cpu(), dtype=dtype)


def classic(array: Any) -> mx.nd.NDArray:
    """An ``mx.np`` array as a classic NDArray sharing its memory (classic ones as they are),
    for MXNet's classic operators (the bilinear resize, ``clip_global_norm``'s sums)."""
    return array.as_nd_ndarray() if isinstance(array, mx.np.ndarray) else array


def in_mode(array: mx.nd.NDArray) -> Any:
    """An MXNet array as the kind the mode in force takes, sharing its memory."""
    if numpy_mode():
        return array if isinstance(array, mx.np.ndarray) else array.as_np_ndarray()
    return classic(array)


def check_numpy_mode(model: Any) -> None:
    """Raise :class:`NumpyModeError` if ``model``'s parameters were made in the other mode than
    the one in force: Gluon makes them ``mx.np`` arrays in NumPy mode and ``mx.nd`` ones
    otherwise, and a forward pass cannot mix the two. (Parameters a first forward pass will
    make, their shapes not yet known, are made in the mode in force then.)"""
    made = [param._data[0] for param in model.collect_params().values()
            if param._data is not None]
    if not made or isinstance(made[0], mx.np.ndarray) == numpy_mode():
        return
    if numpy_mode():
        raise NumpyModeError(
            "MXNet's NumPy mode is on (npx.set_np()) but this model was built before it was "
            "turned on, so its parameters are classic NDArrays: build the model after "
            "npx.set_np(), or call npx.reset_np() before using it")
    raise NumpyModeError(
        "this model was built in MXNet's NumPy mode (npx.set_np()), which is now off "
        "(npx.reset_np()): turn it on again with npx.set_np(), or build the model anew")


def check_float32_parameters(model: Any) -> None:
    """Refuse, in one line, a model whose parameters Gluon's ``model.cast("float16")`` (or
    another dtype) changed: its layers take float32 input, so fit and predict failed deep in
    MXNet ("This layer requires uniform type")."""
    cast = sorted({np.dtype(param.dtype).name for param in model.collect_params().values()}
                  - {"float32"})
    if cast:
        raise TypeError(f"the model's parameters are {', '.join(cast)} (Gluon's model.cast), "
                        "which its float32 input cannot meet: keep the weights in float32 "
                        "(model.cast('float32')); for mixed precision use precision='bf16'")


def add_all(arrays: Sequence[Any]) -> Any:
    """The sum of same-shaped arrays of the mode in force (``mx.nd.add_n`` for classic ones)."""
    if numpy_mode():
        return sum(arrays[1:], arrays[0])
    return mx.nd.add_n(*arrays)


class NumpyOperatorError(D2LAlexNetError, TypeError):
    """A model's ``forward`` called one of MXNet's NumPy-mode operators (``npx.relu``,
    ``np.concatenate``...) on this backend's classic NDArrays."""


# What MXNet says when a NumPy-mode operator gets a classic NDArray (mxnet/ndarray/register.py).
_NUMPY_OPERATOR_ON_CLASSIC_ARRAY = "numpy operator which can only accept MXNet numpy ndarrays"


@contextmanager
def naming_numpy_operators() -> Iterator[None]:
    """Re-raise MXNet's TypeError for a NumPy-mode operator given a classic NDArray (a model
    built with NumPy mode off) as a :class:`NumpyOperatorError` that names both fixes: MXNet's
    own asks for ``npx.set_np()`` only, and names no operator."""
    try:
        yield
    except TypeError as error:
        if _NUMPY_OPERATOR_ON_CLASSIC_ARRAY not in str(error):
            raise
        named = re.search(r"is known as `([^`]+)` in Python", str(error))
        operator = f"`{named.group(1)}`" if named else "an operator"
        raise NumpyOperatorError(
            f"the model's forward called MXNet's NumPy-mode operator {operator} (np./npx., as "
            "the book's later lessons write them) on classic NDArrays (mx.nd): call "
            "npx.set_np() before building the model, as the book's code starts, or write the "
            "classic operators, e.g. nd.relu(X) for npx.relu(X) and nd.concat(a, b, dim=1) for "
            "np.concatenate((a, b), axis=1)") from error


def start_bf16_amp() -> None:
    """Turn on MXNet's bf16 mixed precision: ``amp.init`` rewrites MXNet's operator functions,
    so from now on, for the rest of this process, every network computes its convolutions and
    matrix products in bfloat16 (parameters stay float32). Once is enough; later calls do
    nothing."""
    global _bf16_amp_on
    if not _bf16_amp_on:
        from mxnet.contrib import amp

        # amp.init logs through logging.info, which on a root logger without handlers sets
        # one up (basicConfig): a lesson's own logging.basicConfig would then do nothing.
        handlers, level = list(logging.root.handlers), logging.root.level
        try:
            amp.init(target_dtype="bfloat16")
        finally:
            logging.root.handlers[:] = handlers
            logging.root.setLevel(level)
        _bf16_amp_on = True


def bf16_amp_on() -> bool:
    """Whether :func:`start_bf16_amp` ran in this process (MXNet offers no way back)."""
    return _bf16_amp_on


def to_numpy(array: Any) -> np.ndarray:
    """An NDArray as a numpy array (on the host); a bf16 one (under bf16 AMP, a layer's output)
    as float32, since numpy has no bfloat16."""
    if not isinstance(array, mx.nd.NDArray):
        return np.asarray(array)
    if array.dtype == BFLOAT16:
        array = array.astype("float32")
    return array.asnumpy()
