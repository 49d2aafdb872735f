"""The backend registry: names, and importing only the framework in use.

Frameworks are imported lazily, one per process: they are heavy, may be missing, and PyTorch,
TensorFlow and JAX in one process can clash over OpenMP and oneDNN runtimes.
"""

import importlib
import importlib.util
import sys
from dataclasses import dataclass

from .core.errors import D2LAlexNetError


class BackendError(D2LAlexNetError):
    """The backend cannot be used here; the message says how to fix it."""


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
