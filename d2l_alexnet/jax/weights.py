"""The parameters as named numpy arrays, both ways, and fresh ones from a seed (Flax's layout:
HWIO kernels, ``(in, out)`` dense kernels)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, partial, wraps
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core import weights as core_weights
from .runtime import _keys, to_numpy


def _in_mode(model, training):
    """``model`` with dropout on or off (a model without a ``training`` field as it is)."""
    return model.clone(training=training) if "training" in model.hparams else model


def _bare(model):
    """``model`` without the parameters it carries (a clone carries them): a key for the
    compile caches, which would otherwise keep every model's parameters alive."""
    bare = model.clone()
    if hasattr(bare, "_carried"):
        object.__setattr__(bare, "_carried", {**bare._carried, "params": None,
                                              "batch_stats": None})
    return bare


class _ModelKey:
    """A model as the key of a compile cache. Flax modules compare and hash by their fields, so
    an equal model finds the code compiled for it; one with a list field (``MLP(hiddens=[32,
    16])``, fine in Flax) does not hash, and is keyed instead on its fields made hashable, each
    list a tuple marked as a list (so ``[1]`` and ``(1,)`` stay apart). Beside the fields, the
    key holds what its class and its bases define (:func:`_code_of`): a method replaced since
    (``@d2l.add_to_class``, as a lesson redefines ``loss``) compiles anew."""

    def __init__(self, model: Any, identity: Any, code: tuple[Any, ...]) -> None:
        # The code's objects are held, so that no other object takes one's id while cached.
        self.model, self.code = model, code
        self.identity = (identity, tuple(map(id, code)))

    def __hash__(self) -> int:
        return hash(self.identity)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ModelKey) and self.identity == other.identity

    @classmethod
    def of(cls, model: Any) -> _ModelKey | None:
        """The key of ``model``; ``None`` when not even its fields hash (an array field)."""
        code = _code_of(type(model))
        try:
            hash(model)
            return cls(model, model, code)
        except TypeError:
            pass
        fields = tuple((name, _hashable(getattr(model, name)))
                       for name in getattr(model, "__dataclass_fields__", ()) if name != "parent")
        identity = (type(model), fields)
        try:
            hash(identity)
        except TypeError:
            return None
        return cls(model, identity, code)


def _code_of(cls: type) -> tuple[Any, ...]:
    """Everything ``cls`` and its bases (but ``object``) define: their methods, whatever wraps
    them (``jax.jit``, ``nn.nowrap``), and their constants, compared by identity, so equal only
    while none has been replaced. About 30 µs for AlexNet, once per fit or predict batch."""
    return tuple(value for base in cls.__mro__[:-1] for value in vars(base).values())


def _hashable(value):
    if isinstance(value, (list, tuple)):
        items = tuple(_hashable(item) for item in value)
        return ("list", items) if isinstance(value, list) else items
    if isinstance(value, dict):
        return ("dict", tuple((key, _hashable(item)) for key, item in value.items()))
    if isinstance(value, set):
        return frozenset(value)
    return value


def per_model(maxsize: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An LRU cache of ``build(model, *args)`` keyed on the model as :class:`_ModelKey` keys it
    (``args`` must hash); a model that cannot be keyed is built afresh on every call."""
    def decorate(build):
        @lru_cache(maxsize=maxsize)
        def cached(key, *args):
            return build(key.model, *args)

        @wraps(build)
        def lookup(model, *args):
            key = _ModelKey.of(model)
            return build(model, *args) if key is None else cached(key, *args)

        lookup.cache_clear = cached.cache_clear
        return lookup
    return decorate


@partial(jax.jit, static_argnums=(0, 2))
def _init_keyed(key, rng, shape):
    # Compiled: the first eager init compiles each of its many small ops on its own, slower.
    return key.model.init(rng, jnp.zeros(shape))


def init_variables(model: Any, seed: int, X_shape: Sequence[int]) -> dict[str, Any]:
    """Every collection ``model.init`` makes for inputs of ``X_shape`` from ``seed`` (the
    parameters, and BatchNorm's running statistics where the model has them), in evaluation
    mode."""
    model, rng = _in_mode(_bare(model), training=False), _keys(seed)[0]
    key = _ModelKey.of(model)
    if key is None:
        return jax.jit(model.init)(rng, jnp.zeros(tuple(X_shape)))
    return _init_keyed(key, rng, tuple(int(side) for side in X_shape))


def init_params(model: Any, seed: int = 0) -> dict[str, Any]:
    """Fresh parameters for ``model`` from ``seed`` (what an ``AlexNet`` made after
    ``set_seed(seed)`` carries), sized for its input."""
    if model.input_size is None:
        raise ValueError(f"{type(model).__name__} does not say its input size (it has no "
                         "resize=), so its parameters cannot be made before a batch: give them "
                         "with model.set_params(model.init(key, X)['params']), or let "
                         "Trainer.fit make them from its first batch")
    return init_variables(model, seed, model.input_batch_shape())["params"]


def parameter_arrays(model: Any, seed: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The parameters as ``[(name, numpy array), ...]`` in the architecture table's order (each
    convolution and dense layer: kernel, then bias), in Flax's layout (HWIO kernels, ``(in, out)``
    dense kernels): those the model carries, or with ``seed``, fresh ones from that seed."""
    return _param_arrays(model.params if seed is None else init_params(model, seed))


def _layer_names(params):
    """The weight layers' names in the table's order (``layers_10`` after ``layers_9``)."""
    return sorted(params["net"], key=lambda name: int(name.rsplit("_", 1)[1]))


def _param_arrays(params):
    """A params pytree as ``[(name, numpy array), ...]``, kernel then bias per layer."""
    return [(f"net.{layer}.{kind}", to_numpy(params["net"][layer][kind]))
            for layer in _layer_names(params) for kind in ("kernel", "bias")]


def assign_parameter_arrays(model: Any, arrays: Sequence[tuple[str, np.ndarray]],
                            skip_head: bool = False) -> dict[str, Any]:
    """Set the model's parameters from ``[(name, array), ...]`` in Flax's layout and the table's
    order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``, which keeps the model's own last layer); returns the params pytree. Every
    shape is checked first (``WeightsError``), so a refusal leaves the model unchanged."""
    expected = jax.eval_shape(lambda: init_params(model))  # shapes only: nothing is computed
    targets = [(f"net.{layer}.{kind}", expected["net"][layer][kind].shape)
               for layer in _layer_names(expected) for kind in ("kernel", "bias")]
    matched = iter(core_weights.match_arrays(arrays, targets, skip_head))
    head = _layer_names(expected)[-1]
    params = {"net": {layer: {kind: (model.params["net"][layer][kind]
                                     if skip_head and layer == head else jnp.asarray(next(matched)))
                              for kind in ("kernel", "bias")}
                      for layer in _layer_names(expected)}}
    if hasattr(model, "set_params"):
        model.set_params(params)
    return params


def _path_name(path):
    """``net.layers_0.kernel`` for a pytree path."""
    return ".".join(str(getattr(key, "key", getattr(key, "idx", getattr(key, "name", key))))
                    for key in path)


def check_params_kind(params: Any, argument: str = "params") -> None:
    """Refuse in one line, naming ``argument``, what is not a params pytree: a path, another
    kind of object, or Flax's whole variables dict (``{"params": ...}``) instead of its
    ``"params"``."""
    if isinstance(params, (str, bytes, os.PathLike)):
        raise ValueError(f"{argument} takes parameters, not a file ({params!r}): read it with "
                         "model.load_weights(path) first, then pass model.params")
    if not isinstance(params, Mapping):
        raise ValueError(f"{argument} takes parameters (a dict such as model.params or "
                         f"init_params(model)), not {type(params).__name__}")
    if "params" in params and "net" not in params:
        raise ValueError(f"{argument} was given Flax's whole variables dict (keys "
                         f"{sorted(params)}): pass its parameters, variables[\"params\"]")


def _check_params(model, params, argument="params"):
    """Refuse parameters that do not fit ``model`` before anything is compiled with them,
    naming the first leaf that differs. A model that says not its input size (one of another
    lesson, with no ``resize``) has no shapes to check against before a batch: its parameters
    are taken as given, and its first call says whether they fit."""
    check_params_kind(params, argument)
    if model.input_size is None:
        return

    def shapes(tree):
        return {_path_name(path): tuple(getattr(leaf, "shape", ()))
                for path, leaf in jax.tree_util.tree_flatten_with_path(dict(tree))[0]}

    got, wanted = shapes(params), shapes(jax.eval_shape(lambda: init_params(model)))
    if got != wanted:
        name = next((key for key in wanted if got.get(key) != wanted[key]),
                    next(iter(set(got) - set(wanted)), "?"))
        raise ValueError(f"these parameters do not fit this AlexNet ({model.describe_input()}, "
                         f"{model.num_classes} classes): {name} is {got.get(name, 'missing')}, "
                         f"the model's is {wanted.get(name, 'absent')}; make them with "
                         "model.load_weights(path) (which can adapt the channels and skip the "
                         "head) or init_params(model)")
