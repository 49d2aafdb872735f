"""The chapter's AlexNet on MXNet Gluon (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import mxnet as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons ``ArrayData`` and
``ImageFolder``. MXNet 1.9 is the last release and needs numpy<1.24,
so it runs from its own environment (``make mxnet-env``). Models and batches are classic ``mx.nd``
arrays, or ``mx.np`` arrays after the book's ``npx.set_np()`` (NumPy mode, which the book's
later lessons' ``npx.relu`` and ``np.concatenate`` need); build a model in the mode it is used in.

The files (``core/contract.py`` says what each backend's hold):

- ``runtime.py``: MXNet's engine and threads (set before it loads), devices, seeds, host arrays;
- ``data.py``: ``resize_images`` and the data modules in NDArrays;
- ``weights.py``: the parameters as named numpy arrays, both ways;
- ``model.py``: ``Module``, ``Classifier``, ``build_network``, ``AlexNet``, ``BookAlexNet``;
- ``trainer.py``: the ``Trainer``'s Gluon steps, on one context or several;
- ``tensors.py``: the book's tensor aliases (``d2l.ones``, ``d2l.randn``, ``d2l.reshape``, ...),
  in ``mx.np`` arrays, as after ``npx.set_np()``;
- ``bench.py``: the benchmark's hooks, not imported here.
"""

# First, before the framework: two frameworks' editions in one process may clash.
from ..backends import warn_if_another_edition_is_imported
warn_if_another_edition_is_imported(__name__)

# runtime next: it sets the variables MXNet reads when it loads, before any file imports it.
from ..core.hyperparameters import add_to_class
from .runtime import (LAYOUT, PRECISIONS, cpu, gpu, initialize_distributed, num_gpus, set_seed,
                      to_numpy, try_all_gpus, try_gpu)
from .data import ArrayData, DataModule, FashionMNIST, ImageFolder, resize_images
from .model import AlexNet, BookAlexNet, Classifier, Module, build_network, example_input_shape
from .trainer import Trainer
from .weights import assign_parameter_arrays, parameter_arrays

# Beside the contract: the framework under the names the book's own d2l module gives it, and
# this backend's own idiom.
import mxnet as mx  # noqa: F401,E402  (loaded by runtime by now)
import numpy as np  # noqa: F401
from mxnet import autograd, gluon, init  # noqa: F401
from mxnet.gluon import nn  # noqa: F401

from .data import NDArrayBatches  # noqa: F401
from .model import PlannedSchedule  # noqa: F401

# The book's tensor aliases (d2l.ones, d2l.reshape, ...), as its later chapters call them.
from .tensors import (abs, arange, argmax, astype, batch_matmul, concat, cos, cosh, exp,
                      expand_dims, eye, float32, int32, int64, linspace, log, matmul, meshgrid,
                      nn_Module, normal, numpy, ones, ones_like, rand, randn, reduce_mean,
                      reduce_sum, repeat, reshape, sigmoid, sin, sinh, size, stack, swapaxes, tanh,
                      tensor, to, transpose, zeros, zeros_like)  # noqa: F401

# core/contract.py's PUBLIC_NAMES, the same list in every backend (tests/contract checks it).
__all__ = ["Module", "Classifier", "AlexNet", "BookAlexNet", "DataModule", "FashionMNIST",
           "Trainer", "ArrayData", "ImageFolder", "build_network", "example_input_shape",
           "parameter_arrays", "assign_parameter_arrays", "resize_images", "to_numpy", "cpu",
           "gpu", "num_gpus", "try_gpu", "try_all_gpus", "set_seed", "initialize_distributed",
           "add_to_class", "LAYOUT", "PRECISIONS"]
