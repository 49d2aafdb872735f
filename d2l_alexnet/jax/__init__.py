"""The chapter's AlexNet on JAX and Flax (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import jax as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons ``ArrayData`` and
``ImageFolder``. Images are NHWC. While training, the ``Trainer`` keeps the parameters, the SGD
state and the dropout key in one functional :class:`TrainState` (``trainer.state``). Flax
modules are frozen dataclasses that hold no parameters; our ``Module`` (so ``AlexNet`` and
``BookAlexNet``) still carries a set beside its fields (initialized from the seed at
construction, replaced by ``load_weights`` and at the end of every ``fit``), so ``predict``,
``features``, ``save_weights``, ``load_weights`` and ``parameter_arrays`` take the same
arguments as in every other backend. ``model.apply({"params": params}, X)`` is evaluation (no
dropout) unless a ``"dropout"`` RNG is passed. As in the book, ``Module.__call__`` runs
``forward`` (ours runs ``self.net``), so a lesson's model may define only ``forward``; one that
says not its input size is initialized from the first batch by ``fit``, and BatchNorm's running
statistics (``batch_stats``) travel in the train state, the model and checkpoints.

Unlike the book's JAX ``Trainer`` (which needs the removed ``jax.random.PRNGKeyArray``), this uses
typed keys from ``jax.random.key`` and jit-compiles each step once: an epoch's short last batch
is padded to the batch size, its padding masked out of the loss, gradients and metrics.

The files (``core/contract.py`` says what each backend's hold):

- ``runtime.py``: devices, the seed (``set_seed``) and the book's ``get_key``,
  ``initialize_distributed``, ``to_numpy``;
- ``data.py``: ``resize_images`` and the data modules, batching JAX arrays;
- ``weights.py``: ``init_params`` and the parameters as named numpy arrays, both ways;
- ``model.py``: ``Module``, ``Classifier``, ``AlexNet``, ``BookAlexNet``, ``build_network``,
  the optimizer's schedules;
- ``trainer.py``: the ``Trainer`` and its :class:`TrainState`;
- ``tensors.py``: the book's tensor aliases (``d2l.ones``, ``d2l.reshape``, ...);
- ``bench.py``: the benchmark's matmul and memory probes (not imported here).
"""

# First, before the framework: two frameworks' editions in one process may clash.
from ..backends import warn_if_another_edition_is_imported
warn_if_another_edition_is_imported(__name__)

from .data import ArrayData, DataModule, FashionMNIST, ImageFolder, resize_images
from .model import AlexNet, BookAlexNet, Classifier, Module, build_network, example_input_shape
from ..core.hyperparameters import add_to_class
from .runtime import (LAYOUT, PRECISIONS, cpu, gpu, initialize_distributed, num_gpus, set_seed,
                      to_numpy, try_all_gpus, try_gpu)
from .trainer import Trainer
from .weights import assign_parameter_arrays, parameter_arrays

# Beside the contract: the framework under the names the book's own d2l module gives it, and
# this backend's own idiom.
import jax  # noqa: F401
import jax.numpy as jnp  # noqa: F401
import numpy as np  # noqa: F401
import optax  # noqa: F401
from flax import linen as nn  # noqa: F401

from .data import JaxBatches  # noqa: F401
from .model import Dropout, flatten, optax_schedule  # noqa: F401
from .trainer import TrainState  # noqa: F401
from .weights import init_params  # noqa: F401

# The book's tensor aliases (d2l.ones, d2l.reshape, ...), as its later chapters call them.
from .tensors import (abs, arange, argmax, astype, concat, cos, cosh, exp, expand_dims, eye,
                      float32, int32, int64, linspace, log, matmul, meshgrid, nn_Module, numpy,
                      ones, ones_like, reduce_mean, reduce_sum, repeat, reshape, sigmoid, sin,
                      sinh, stack, swapaxes, tanh, tensor, to, transpose, zeros,
                      zeros_like)  # noqa: F401
from .runtime import get_key  # noqa: F401

# core/contract.py's PUBLIC_NAMES, the same list in every backend (tests/contract checks it).
__all__ = ["Module", "Classifier", "AlexNet", "BookAlexNet", "DataModule", "FashionMNIST",
           "Trainer", "ArrayData", "ImageFolder", "build_network", "example_input_shape",
           "parameter_arrays", "assign_parameter_arrays", "resize_images", "to_numpy", "cpu",
           "gpu", "num_gpus", "try_gpu", "try_all_gpus", "set_seed", "initialize_distributed",
           "add_to_class", "LAYOUT", "PRECISIONS"]
