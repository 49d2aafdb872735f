"""The backend registry: names, and importing only the framework in use.

Frameworks are imported lazily, one per process: they are heavy, may be missing, and PyTorch,
TensorFlow and JAX in one process can clash over OpenMP and oneDNN runtimes. An edition imported
where another already is says so once (:class:`FrameworkClashWarning`).
"""

import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass
from types import FrameType

from .core.errors import D2LAlexNetError


class BackendError(D2LAlexNetError):
    """The backend cannot be used here; the message says how to fix it."""


class FrameworkClashWarning(UserWarning):
    """Editions of two frameworks imported into one process, whose runtimes may clash."""


@dataclass(frozen=True)
class Backend:
    name: str  # the CLI's name
    module: str  # our module implementing it
    framework: str  # the top-level package it needs
    extra: str  # the pip extra that installs it


BACKENDS = {
    "pytorch": Backend("pytorch", "d2l_alexnet.torch", "torch", "torch"),
    "tensorflow": Backend("tensorflow", "d2l_alexnet.tensorflow", "tensorflow", "tensorflow"),
    "jax": Backend("jax", "d2l_alexnet.jax", "flax", "jax"),
    "mxnet": Backend("mxnet", "d2l_alexnet.mxnet", "mxnet", "mxnet"),
}
ALIASES = {"torch": "pytorch", "tf": "tensorflow", "flax": "jax", "gluon": "mxnet"}


def canonical_name(name):
    """``"torch"`` -> ``"pytorch"``; unknown names raise :class:`BackendError` listing the valid."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return key


def install_hint(name, command="train"):
    """How to get the framework of backend ``name``, for the message of ``command`` (the CLI
    command that asked: the MXNet hint names it in the environment it must run in)."""
    backend = BACKENDS[canonical_name(name)]
    if backend.name == "mxnet":
        run = f"`.venv-mxnet/bin/python -m d2l_alexnet.{command} --backend mxnet`"
        # A clone makes that environment with make; an installed package in a venv of its own.
        elsewhere = (f"where d2l-alexnet is installed, in a new Python 3.11 virtual environment: "
                     f"pip install 'd2l-alexnet[mxnet]', then its python -m "
                     f"d2l_alexnet.{command} --backend mxnet")
        if sys.version_info >= (3, 12):
            return ("MXNet 1.9.1 needs Python 3.11 or older (numpy<1.24 has no wheels for "
                    f"Python {sys.version_info[0]}.{sys.version_info[1]}); run it with a "
                    f"Python 3.11 environment: in a clone, `make mxnet-env`, then {run}; "
                    f"{elsewhere}")
        return ("MXNet lives in its own environment (it needs numpy<1.24): in a clone, run "
                f"`make mxnet-env`, then {run}; {elsewhere}")
    # From a clone (the usual case) the extra is installed with -e '.[extra]'; the package's
    # name works only where d2l-alexnet itself is already installed (from a wheel, say).
    return (f"the {backend.name} backend needs {backend.framework}: in a clone of d2l_alexnet, "
            f"pip install -e '.[{backend.extra}]' (or `make setup`, which installs PyTorch, "
            f"TensorFlow and JAX); where d2l-alexnet is installed, "
            f"pip install 'd2l-alexnet[{backend.extra}]'")


def load_backend(name, command="train"):
    """Import and return the backend module ``d2l_alexnet.<backend>``; ``command``: the CLI
    command asking, named in the hint when the framework is missing."""
    backend = BACKENDS[canonical_name(name)]
    if backend.name == "mxnet" and sys.version_info >= (3, 12):
        raise BackendError(install_hint(name, command))
    spec = importlib.util.find_spec(backend.framework)
    if spec is None:
        raise BackendError(install_hint(name, command))
    if spec.origin is None:  # a namespace package: a folder of that name, not the framework
        folders = ", ".join(spec.submodule_search_locations or [])
        raise BackendError(f"{install_hint(name, command)} (the folder {folders} has the name "
                           f"{backend.framework} but is not the framework)")
    try:
        return importlib.import_module(backend.module)
    except ImportError as error:
        raise BackendError(f"{backend.framework} is installed but failed to import ({error}); "
                           f"{install_hint(name, command)}") from error


def load_bench_hooks(backend):
    """The ``bench`` module of the imported ``backend`` (``core.contract.BENCH_HOOKS``): what
    only the benchmark needs, kept out of what a lesson imports."""
    return importlib.import_module(f"{backend.__name__}.bench")


# Our editions and the framework each runs on. Editions, not frameworks, are what is looked
# for: a framework imported beside another can be legitimate (the book's d2l.jax reads its
# data with TensorFlow; TensorFlow's Keras may import JAX).
EDITION_FRAMEWORKS = {"d2l_alexnet.torch": "PyTorch", "d2l_alexnet.tensorflow": "TensorFlow",
                      "d2l_alexnet.jax": "JAX", "d2l_alexnet.mxnet": "MXNet"}
_clash_told = False  # once a process: the advice does not change with a third edition


def warn_if_another_edition_is_imported(edition: str) -> None:
    """Warn once (:class:`FrameworkClashWarning`) when ``edition`` (a module of
    :data:`EDITION_FRAMEWORKS`) is imported into a process that has imported another, as a
    notebook whose ``BACKEND`` is changed and re-run does; each edition calls this first."""
    global _clash_told
    others = [name for name in EDITION_FRAMEWORKS if name != edition and name in sys.modules]
    if _clash_told or not others:
        return
    _clash_told = True
    frameworks = " and ".join(EDITION_FRAMEWORKS[name] for name in [*others, edition])
    warnings.warn(f"{edition} imported into a process that has imported {', '.join(others)}: "
                  f"{frameworks} in one process can clash over their OpenMP and oneDNN "
                  f"runtimes (a crash, a hang, slow or wrong steps); to change editions, "
                  f"restart the kernel (or Python) and import one only",
                  FrameworkClashWarning, stacklevel=_first_frame_outside_the_import())


def _first_frame_outside_the_import() -> int:
    """The ``stacklevel`` of the code that asked for the import (a notebook's cell, a script),
    past our package and importlib: the line a warning should name. ``warnings`` itself skips
    importlib's frozen ``_bootstrap`` frames when it counts, so they are not counted here."""
    ours = os.path.dirname(os.path.abspath(__file__)) + os.sep
    machinery = os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep
    frame: FrameType | None = sys._getframe(1)
    level = 1  # this function's caller, which warns
    while frame is not None:
        filename = frame.f_code.co_filename
        if "importlib" in filename and "_bootstrap" in filename:
            frame = frame.f_back  # not counted by warnings
            continue
        if not filename.startswith((ours, machinery)):
            return level
        frame, level = frame.f_back, level + 1
    return 1
