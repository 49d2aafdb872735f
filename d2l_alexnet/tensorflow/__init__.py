"""The chapter's AlexNet on TensorFlow with Keras 3 (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import tensorflow as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``init_cnn``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons
``ArrayData`` and ``ImageFolder``. Images are NHWC, as in the book's
TensorFlow code. Unlike that code, dropout really is active while training: every call passes
``training=True`` or ``training=False``.

The files (``core/contract.py`` says what each backend's hold): ``runtime.py``, TensorFlow
imported quietly, the ``TF_CONFIG`` cluster strategy (nothing else to join), devices, seeds and
``to_numpy``; ``data.py``, ``resize_images`` and the data modules; ``weights.py``, the
parameters as numpy arrays; ``model.py``, the models, ``build_network``, ``init_cnn`` and the
learning-rate schedule; ``trainer.py``, the ``Trainer``; ``tensors.py``, the book's tensor
aliases (``d2l.ones``, ``d2l.normal``, ``d2l.reshape``, ...); ``bench.py``, the benchmark's hooks
(not imported here).
"""

# First, before the framework: two frameworks' editions in one process may clash.
from ..backends import warn_if_another_edition_is_imported
warn_if_another_edition_is_imported(__name__)

from ..core.hyperparameters import add_to_class
from .runtime import (LAYOUT, PRECISIONS, cpu, gpu, initialize_distributed, num_gpus, set_seed,
                      to_numpy, try_all_gpus, try_gpu)
from .data import ArrayData, DataModule, FashionMNIST, ImageFolder, resize_images
from .model import AlexNet, BookAlexNet, Classifier, Module, build_network, example_input_shape
from .trainer import Trainer
from .weights import assign_parameter_arrays, parameter_arrays

# Beside the contract: the framework under the names the book's own d2l module gives it, and
# this backend's own idiom.
import numpy as np  # noqa: F401

from .data import TensorBatches  # noqa: F401
from .model import PlannedSchedule, init_cnn  # noqa: F401
from .runtime import CLUSTER_STRATEGY, keras, tf  # noqa: F401

# The book's tensor aliases (d2l.ones, d2l.reshape, ...), as its later chapters call them.
from .tensors import (abs, arange, argmax, astype, batch_matmul, concat, cos, cosh, exp,
                      expand_dims, eye, float32, int32, int64, linspace, log, matmul, meshgrid,
                      nn_Module, normal, numpy, ones, ones_like, rand, reduce_mean, reduce_sum,
                      repeat, reshape, sigmoid, sin, sinh, size, stack, tanh, tensor, transpose,
                      zeros, zeros_like)  # noqa: F401

# core/contract.py's PUBLIC_NAMES, the same list in every backend (tests/contract checks it).
__all__ = ["Module", "Classifier", "AlexNet", "BookAlexNet", "DataModule", "FashionMNIST",
           "Trainer", "ArrayData", "ImageFolder", "build_network", "example_input_shape",
           "parameter_arrays", "assign_parameter_arrays", "resize_images", "to_numpy", "cpu",
           "gpu", "num_gpus", "try_gpu", "try_all_gpus", "set_seed", "initialize_distributed",
           "add_to_class", "LAYOUT", "PRECISIONS"]
