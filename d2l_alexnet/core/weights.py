"""One weights file for every backend (safetensors, canonical layout).

Why safetensors rather than ``.npz``: it is the ecosystem's standard for weights (readable by the
``safetensors`` library in any framework, and by Rust or C++ tools), it cannot carry pickled code,
and its header is plain JSON with room for metadata (architecture, input size, classes). The
files are read and written by the ``safetensors`` library itself (its numpy API, so no framework
is imported); only the atomic write around it is ours.

The canonical layout (PyTorch's and MXNet's own):
- names ``conv1`` … ``conv5``, ``dense1`` … ``dense3``, each with ``.weight`` and ``.bias``;
- convolution kernels OIHW ``(out, in, kh, kw)``; dense weights ``(out, in)``;
- ``dense1.weight`` columns in the flatten order of a channels-first map, C×H×W.
TensorFlow and JAX work channels-last: kernels HWIO, dense kernels ``(in, out)``, and flatten
order H×W×C, so :func:`to_canonical`/:func:`from_canonical` transpose and permute for them.

The header's ``__metadata__`` records ``format``, ``architecture``, ``resize`` (``"224"``, or
``"96x128"`` for a non-square input), ``num_classes``, ``in_channels``, ``layout`` and
``saved_by`` (the backend), so loading names a mismatch in words rather than in shapes; and,
when the data named them, ``classes`` (the class names in label order, as a JSON list), so a
file says what its outputs mean (``predict`` prints them). Files
without it (written by another tool in the canonical layout) load when every tensor has the
right name and shape; files written before ``in_channels`` was recorded are greyscale.

Fine-tuning (:func:`read_weights`): ``skip_head=True`` loads everything but the last dense layer,
so a 10-class file starts a model of any number of classes; and a file for another channel
count adapts the first convolution by one rule, reported in one line: to one channel (RGB ->
grey) the kernel is summed over its input channels, which is the response of the original
kernel to a grey image repeated in every channel; from one channel (grey -> RGB) it is repeated
over the channels and divided by their number, which gives an RGB image with equal channels the
response the grey kernel gave that grey image.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import safetensors

from .architecture import IN_CHANNELS, as_size, format_size, layer_table
from .checkpoint import CheckpointError, is_checkpoint, read_checkpoint
from .errors import D2LAlexNetError
from .files import atomic_write_bytes, canonical_json, safetensors_bytes, safetensors_metadata
from .language import say
from .types import Log, PathLike, Size, user_path

# Arrays by name: ``[(name, array), ...]`` in a backend's layout and the table's order.
NamedArrays = Sequence[tuple[str, np.ndarray]]

FORMAT = "d2l_alexnet"  # the metadata's "format": files of this library
ARCHITECTURE = "alexnet-d2l"  # the chapter's network, first convolution unpadded
CANONICAL_LAYOUT = "conv OIHW, dense (out, in), flatten CHW"
LAYOUTS = ("NCHW", "NHWC")
# Each backend's own layout (its module's LAYOUT), for the parameters a checkpoint holds.
BACKEND_LAYOUTS = {"pytorch": "NCHW", "mxnet": "NCHW", "tensorflow": "NHWC", "jax": "NHWC"}


class WeightsError(D2LAlexNetError):
    """A weights file is unreadable or does not fit the network; the message says which."""


def canonical_shapes(resize: Size, num_classes: int, in_channels: int = IN_CHANNELS,
                     ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """``({name: shape}, (C, H, W) before flatten)`` in the table's order for an
    ``in_channels``×``resize`` input (``resize``: a side or ``(height, width)``)."""
    shapes: dict[str, tuple[int, ...]] = {}
    in_shape: tuple[int, ...] = (in_channels,)
    flatten_from: tuple[int, ...] | None = None
    counters = {"conv": 0, "dense": 0}
    for row in layer_table(resize, num_classes, in_channels):
        kind = row.layer.kind
        if kind in counters:
            counters[kind] += 1
            name = f"{kind}{counters[kind]}"
            out = row.output_shape[0]
            if kind == "conv":
                shapes[f"{name}.weight"] = (out, in_shape[0], row.layer.kernel, row.layer.kernel)
            else:
                shapes[f"{name}.weight"] = (out, in_shape[0])
            shapes[f"{name}.bias"] = (out,)
        if kind == "flatten":
            flatten_from = in_shape  # the (C, H, W) map that dense1 sees flattened
        in_shape = row.output_shape
    return shapes, cast("tuple[int, ...]", flatten_from)  # the chapter's table flattens once


def _native_shape(name, shape, layout):
    """The shape of canonical tensor ``name`` in ``layout``."""
    if layout == "NCHW" or not name.endswith(".weight"):
        return shape
    if len(shape) == 4:
        out, inp, kh, kw = shape
        return (kh, kw, inp, out)  # HWIO
    return (shape[1], shape[0])  # (in, out); dense1's rows are the H×W×C flatten order


def head_names(resize: Size = 224, num_classes: int = 10, in_channels: int = IN_CHANNELS,
               ) -> tuple[str, ...]:
    """The canonical names of the last dense layer (the classifier "head"): what
    ``skip_head=True`` leaves out."""
    return tuple(canonical_shapes(resize, num_classes, in_channels)[0])[-2:]


def to_canonical(arrays: NamedArrays, layout: str, resize: Size, num_classes: int,
                 in_channels: int = IN_CHANNELS) -> dict[str, np.ndarray]:
    """A backend's ``parameter_arrays`` (its own layout, the table's order) ->
    ``{canonical name: float32 array}``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    shapes, (channels, height, width) = canonical_shapes(resize, num_classes, in_channels)
    arrays = list(arrays)
    if len(arrays) != len(shapes):
        raise WeightsError(f"expected {len(shapes)} arrays (a kernel and a bias per layer), "
                           f"got {len(arrays)}")
    tensors = {}
    for (name, shape), (source, array) in zip(shapes.items(), arrays):
        array = np.asarray(array, dtype=np.float32)
        native = _native_shape(name, shape, layout)
        if array.shape != native:
            raise WeightsError(f"{source} ({name}) has shape {array.shape}, the {layout} network "
                               f"needs {native}")
        if layout == "NHWC" and name.endswith(".weight"):
            if len(shape) == 4:
                array = array.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            elif name == "dense1.weight":
                # rows in H×W×C order -> columns in C×H×W order
                array = (array.reshape(height, width, channels, -1).transpose(3, 2, 0, 1)
                         .reshape(shape))
            else:
                array = array.T
        tensors[name] = np.ascontiguousarray(array)
    return tensors


def from_canonical(tensors: Mapping[str, np.ndarray], layout: str, resize: Size,
                   num_classes: int, in_channels: int = IN_CHANNELS, skip_head: bool = False,
                   ) -> list[tuple[str, np.ndarray]]:
    """``{canonical name: array}`` -> ``[(name, array), ...]`` in a backend's own layout and the
    table's order (what its ``assign_parameter_arrays`` takes); without the last dense layer's
    two arrays when ``skip_head``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    check_shapes(tensors, resize, num_classes, in_channels, skip_head)
    shapes, (channels, height, width) = canonical_shapes(resize, num_classes, in_channels)
    if skip_head:
        shapes = dict(list(shapes.items())[:-2])
    arrays = []
    for name, shape in shapes.items():
        array = np.asarray(tensors[name], dtype=np.float32)
        if layout == "NHWC" and name.endswith(".weight"):
            if len(shape) == 4:
                array = array.transpose(2, 3, 1, 0)  # OIHW -> HWIO
            elif name == "dense1.weight":
                # columns in C×H×W order -> rows in H×W×C order
                array = (array.reshape(-1, channels, height, width).transpose(2, 3, 1, 0)
                         .reshape(height * width * channels, -1))
            else:
                array = array.T
        arrays.append((name, np.ascontiguousarray(array)))
    return arrays


def match_arrays(arrays: Iterable[tuple[str, Any]], targets: Iterable[tuple[str, Sequence[int]]],
                 skip_head: bool = False) -> list[np.ndarray]:
    """Pair ``[(name, array), ...]`` with a model's ``[(parameter name, shape), ...]`` in order
    (all but the last layer's two when ``skip_head``); returns the arrays as contiguous float32,
    or raises :class:`WeightsError` (before anything is assigned) when the count or a shape
    differs."""
    arrays, targets = list(arrays), list(targets)
    if skip_head:
        targets = targets[:-2]
    if len(arrays) != len(targets):
        raise WeightsError(f"expected {len(targets)} arrays (a kernel and a bias per layer), "
                           f"got {len(arrays)}")
    matched = []
    for (source, array), (name, shape) in zip(arrays, targets):
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.shape != tuple(shape):
            raise WeightsError(f"{source} has shape {array.shape}, but the model's {name} is "
                               f"{tuple(shape)}")
        matched.append(array)
    return matched


def check_shapes(tensors: Mapping[str, np.ndarray], resize: Size, num_classes: int,
                 in_channels: int = IN_CHANNELS, skip_head: bool = False) -> None:
    """Raise :class:`WeightsError` unless ``tensors`` are exactly the canonical tensors of the
    network for ``in_channels``×``resize`` inputs and ``num_classes`` classes (with
    ``skip_head``, the last dense layer may be anything or absent)."""
    shapes, _ = canonical_shapes(resize, num_classes, in_channels)
    head = tuple(shapes)[-2:]
    if skip_head:
        shapes = {name: shape for name, shape in shapes.items() if name not in head}
    missing = [name for name in shapes if name not in tensors]
    extra = [name for name in tensors if name not in shapes and not (skip_head and name in head)]
    if missing or extra:
        raise WeightsError(f"not AlexNet weights of this library: missing {missing or 'none'}, "
                           f"unexpected {extra or 'none'}")
    for name, shape in shapes.items():
        if tuple(tensors[name].shape) != shape:
            raise WeightsError(f"{name} is {tuple(tensors[name].shape)} in the file, the "
                               f"model's is {shape}: {_shape_fix(name, head)}")


def _shape_fix(name, head):
    """The option that would make a layer of another shape fit."""
    if name.startswith("conv1."):
        return "build the model with the file's in_channels"
    if name in head:
        return "pass skip_head=True (the CLI's --new-head) to start a new last layer"
    if name.startswith("dense1."):
        return "build the model with the resize the file was saved for"
    return "the file holds another network"


def save_safetensors(path: PathLike, tensors: Mapping[str, Any],
                     metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``tensors`` (a dict of arrays, stored as float32) as a safetensors file, atomically
    (temporary file, fsync, rename); ``metadata`` values are stored as strings, all in one
    canonical-JSON entry (``files.safetensors_bytes``), so equal content gives equal bytes."""
    tensors = {name: np.ascontiguousarray(array, dtype=np.float32)
               for name, array in tensors.items()}
    strings = {str(key): str(value) for key, value in (metadata or {}).items()}
    atomic_write_bytes(path, safetensors_bytes(tensors, strings))


def _open(path):
    """``safe_open`` on ``path`` with every failure as a :class:`WeightsError` in one sentence."""
    if os.path.isdir(path):
        raise WeightsError(f"cannot read weights file {path}: it is a directory")
    try:
        return safetensors.safe_open(os.fspath(path), framework="numpy")
    except FileNotFoundError:
        raise WeightsError(f"cannot read weights file {path}: no such file") from None
    except OSError as error:
        raise WeightsError(f"cannot read weights file {path}: {error.strerror or error}") from None
    except Exception as error:  # SafetensorError: a malformed header or a short file
        raise _invalid(path, error) from None


def _invalid(path, error):
    return WeightsError(f"{path} is not a valid safetensors weights file ({error}); it may be "
                        "truncated or corrupt")


def _metadata(path, handle):
    """The file's metadata dict, in either layout (``files.safetensors_metadata``)."""
    try:
        return safetensors_metadata(handle.metadata())
    except ValueError as error:
        raise WeightsError(f"{path} has unreadable metadata ({error})") from None


def load_safetensors(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a safetensors file; returns ``(tensors, metadata)``, the tensors as writable float32
    arrays (a file in another floating type, float16 or bfloat16 say, is widened or narrowed to
    it). Anything truncated, corrupt or not floating point raises :class:`WeightsError`."""
    with _open(path) as handle:
        metadata = _metadata(path, handle)
        tensors = {}
        for name in handle.keys():
            stored = handle.get_slice(name).get_dtype()
            if stored == "BF16":  # numpy has no bfloat16: the library cannot hand it over
                tensors[name] = _read_bfloat16(path, name)
                continue
            if stored.startswith("F") and stored not in ("F16", "F32", "F64"):
                raise WeightsError(f"{path}: {name} is stored as {stored}, which d2l_alexnet "
                                   "cannot read: save the weights as float32, float16 or "
                                   "bfloat16")
            try:
                array = handle.get_tensor(name)
            except Exception as error:  # the header promised bytes the file does not hold
                raise _invalid(path, error) from None
            if not np.issubdtype(array.dtype, np.floating):
                raise _invalid(path, f"{name} is {array.dtype}, not floating point")
            tensors[name] = np.array(array, dtype=np.float32)  # a copy: writable, ours
    return tensors, metadata


def _read_bfloat16(path, name):
    """Tensor ``name`` of a file the safetensors library has already checked, stored as
    bfloat16, as float32: a bfloat16 is the top 16 bits of the float32 of the same value."""
    with open(path, "rb") as stream:
        (length,) = struct.unpack("<Q", stream.read(8))
        entry = json.loads(stream.read(length))[name]
        start, end = entry["data_offsets"]
        stream.seek(8 + length + start)
        raw = stream.read(end - start)
    count = int(np.prod(entry["shape"], dtype=np.int64))
    if len(raw) != 2 * count:
        raise _invalid(path, f"{name} holds {len(raw)} bytes, not {2 * count}")
    bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return bits.view(np.float32).reshape(entry["shape"])


def checkpoint_weights(path: PathLike, log: Log | None = print,
                       ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The model's weights in a checkpoint (``core/checkpoint.py``): ``(canonical tensors,
    metadata)`` as :func:`load_safetensors` gives a weights file's, said in one line through
    ``log``. The checkpoint holds them as its backend saved them (``params.*``, that backend's
    layout), with what they are for in its metadata."""
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as error:
        raise WeightsError(str(error)) from None
    saved = checkpoint.metadata
    layout = BACKEND_LAYOUTS.get(saved.get("backend"))  # type: ignore[arg-type]  # None: none
    if (layout is None or saved.get("architecture") != ARCHITECTURE
            or saved.get("resize") is None or saved.get("num_classes") is None):
        raise WeightsError(f"{path} is a checkpoint of a {saved.get('backend')!r} model of "
                           "another kind, not of this library's AlexNet: resume it with "
                           "trainer.fit(..., resume=read_checkpoint(path))")
    resize = tuple(saved["resize"]) if isinstance(saved["resize"], list) else saved["resize"]
    in_channels = saved.get("in_channels") or IN_CHANNELS
    try:
        tensors = state_to_canonical(checkpoint.arrays, layout, resize, saved["num_classes"],
                                     in_channels)
    except (WeightsError, ValueError) as error:
        raise WeightsError(f"{path} is a checkpoint whose parameters are not this library's "
                           f"AlexNet: {error}") from None
    if log is not None:
        log(f"{path} is a checkpoint: took the model weights it holds (step {checkpoint.step} "
            f"of a {saved['backend']} run); to continue that run itself, pass its folder as "
            "--checkpoint-dir with --resume")
    metadata = {"format": FORMAT, "architecture": ARCHITECTURE, "resize": encode_resize(resize),
                "num_classes": str(saved["num_classes"]), "in_channels": str(in_channels)}
    if saved.get("classes") is not None:  # recorded by checkpoints since class names were
        metadata["classes"] = encode_classes(saved["classes"], saved["num_classes"])
    return tensors, metadata


def state_to_canonical(arrays: Mapping[str, np.ndarray], layout: str, resize: Size,
                       num_classes: int, in_channels: int = IN_CHANNELS,
                       ) -> dict[str, np.ndarray]:
    """The model weights among a trainer's state arrays (``params.*``, as a checkpoint holds
    them, in the backend's ``layout``) as canonical tensors."""
    params = sorted((name for name in arrays if name.startswith("params.")),
                    key=_parameter_order)
    return to_canonical([(name, arrays[name]) for name in params], layout, resize, num_classes,
                        in_channels)


def read_tensors(path: PathLike, log: Log | None = print,
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(tensors, metadata)`` of a weights file (:func:`load_safetensors`), or the model
    weights of a checkpoint (:func:`checkpoint_weights`, said through ``log``)."""
    path = user_path(path)
    if is_checkpoint(path):
        return checkpoint_weights(path, log)
    return load_safetensors(path)


def _parameter_order(name):
    """The architecture table's order of a checkpoint's parameter names: layers by the numbers
    in their names (JAX's ``layers_10`` after ``layers_9``; its pytrees come sorted as text),
    kernel before bias within a layer."""
    layer, kind = name.rsplit(".", 1)
    return ([int(part) if part.isdigit() else part for part in re.split(r"(\d+)", layer)],
            kind not in ("weight", "kernel"))


def check_finite(path: PathLike, tensors: Mapping[str, np.ndarray]) -> None:
    """Refuse tensors holding NaN or infinite values (the weights of a run that diverged),
    naming the first such tensor."""
    for name, array in tensors.items():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise WeightsError(f"{path}: {name} holds {bad:,} NaN or infinite value(s), the "
                               "weights of a run that diverged: use a file saved before its "
                               "loss became NaN")


def encode_resize(resize: Size) -> str:
    """The metadata's ``resize``: ``"224"`` for a square input, ``"96x128"`` otherwise."""
    height, width = as_size(resize)
    return str(height) if height == width else f"{height}x{width}"


def decode_resize(text: object) -> Size:
    """Undo :func:`encode_resize`: an int for a square input, ``(height, width)`` otherwise."""
    parts = [int(part) for part in str(text).lower().split("x")]
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == parts[1]):
        return parts[0]
    if len(parts) != 2:
        raise ValueError(f"resize {text!r}")
    return parts[0], parts[1]


def save_weights(path: PathLike, arrays: NamedArrays, layout: str, resize: Size,
                 num_classes: int, backend: str | None, in_channels: int = IN_CHANNELS,
                 classes: Sequence[str] | None = None) -> None:
    """Save a backend's ``parameter_arrays`` (its own layout) in the canonical layout, with the
    architecture (and ``classes``, the class names, when given) in the metadata so that loading
    can name a mismatch. A path that names a folder, or a file in a folder that does not exist,
    is refused in one line (the OS's error named the temporary file written first)."""
    path = user_path(path)
    check_file_to_write(path)
    save_canonical(path, to_canonical(arrays, layout, resize, num_classes, in_channels),
                   resize, num_classes, backend, in_channels, classes=classes)


def check_file_to_write(path: PathLike) -> None:
    """Refuse, in one line that says what to do, a weights file's ``path`` that is a folder or
    lies in a folder that does not exist."""
    if os.path.isdir(path):
        example = os.path.join(os.fspath(path), "weights.safetensors")
        raise WeightsError(f"cannot write weights file {path}: it is a folder: name a file, "
                           f"{example} say")
    folder = os.path.dirname(os.fspath(path)) or "."
    if not os.path.isdir(folder):
        raise WeightsError(f"cannot write weights file {path}: there is no folder {folder}: "
                           f"make it first (os.makedirs({folder!r}, exist_ok=True))")


def save_canonical(path: PathLike, tensors: Mapping[str, np.ndarray], resize: Size,
                   num_classes: int, backend: str | None, in_channels: int = IN_CHANNELS,
                   extra_metadata: Mapping[str, str] | None = None,
                   classes: Sequence[str] | None = None) -> None:
    """Save canonical ``tensors`` as a weights file (what :func:`save_weights` writes), with
    ``extra_metadata`` besides (``KeepBest``'s epoch and accuracy) and ``classes``, the names
    of the ``num_classes`` labels in order (``None``: unnamed)."""
    path = user_path(path)
    named = {} if classes is None else {"classes": encode_classes(classes, num_classes)}
    save_safetensors(path, tensors, {**(extra_metadata or {}), **named,
                                     "format": FORMAT, "architecture": ARCHITECTURE,
                                     "resize": encode_resize(resize), "num_classes": num_classes,
                                     "in_channels": in_channels, "layout": CANONICAL_LAYOUT,
                                     "saved_by": backend})


def encode_classes(classes: Sequence[str], num_classes: int) -> str:
    """The metadata's ``classes``: the names as a canonical JSON list (one text for one list of
    names, so the same weights give the same bytes); refuses a list that does not name exactly
    ``num_classes`` classes by distinct texts."""
    if isinstance(classes, str):
        raise WeightsError(f"classes must be a list of names, got the single string "
                           f"{classes!r}; pass e.g. classes=[\"cat\", \"dog\"]")
    names = list(classes)
    if len(names) != num_classes or not all(isinstance(name, str) for name in names) \
            or len(set(names)) != len(names):
        raise WeightsError(f"classes must name the model's {num_classes} classes in label "
                           f"order, each by a different text, got {names!r}")
    return canonical_json(names)


def decode_classes(path: PathLike, text: str | None, num_classes: int | None,
                   ) -> list[str] | None:
    """Undo :func:`encode_classes` (``None`` for ``None``), refusing names that do not fit."""
    if text is None:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if (not isinstance(names, list) or not all(isinstance(name, str) for name in names)
            or (num_classes is not None and len(names) != num_classes)):
        raise WeightsError(f"{path} has unreadable metadata (classes {text!r} is not a list of "
                           f"{num_classes} class names)")
    return names


def _saved_for(path, metadata):
    """``(resize, num_classes, in_channels)`` a file was saved for, from its metadata (``None``
    where absent, as in a file written by another tool)."""
    if metadata.get("format") not in (None, FORMAT):
        raise WeightsError(f"{path} was not written by d2l_alexnet (format "
                           f"{metadata.get('format')!r})")
    if metadata.get("architecture") not in (None, ARCHITECTURE):
        raise WeightsError(f"{path} holds a {metadata['architecture']!r} network, not this "
                           f"library's AlexNet ({ARCHITECTURE!r})")
    try:
        resize = decode_resize(metadata["resize"]) if "resize" in metadata else None
        counts = tuple(int(metadata[key]) if key in metadata else None
                       for key in ("num_classes", "in_channels"))
    except (ValueError, TypeError):
        raise WeightsError(f"{path} has unreadable metadata (resize "
                           f"{metadata.get('resize')!r}, num_classes "
                           f"{metadata.get('num_classes')!r}, in_channels "
                           f"{metadata.get('in_channels')!r})") from None
    return (resize, *counts)


def adapt_channels(kernel: np.ndarray, in_channels: int) -> tuple[np.ndarray, str | None]:
    """The first convolution's OIHW ``kernel`` for ``in_channels`` input channels, by the
    module's rule; returns ``(kernel, description)``, or raises :class:`WeightsError`."""
    saved = kernel.shape[1]
    if saved == in_channels:
        return kernel, None
    if in_channels == 1:
        return (kernel.sum(axis=1, keepdims=True, dtype=np.float32),
                say("conv1_summed", saved=saved))
    if saved == 1:
        return (np.repeat(kernel, in_channels, axis=1) / np.float32(in_channels),
                say("conv1_repeated", channels=in_channels))
    raise WeightsError(f"conv1.weight is {tuple(kernel.shape)} in the file, the model's has "
                       f"{in_channels} input channels: no rule maps {saved} channels to "
                       f"{in_channels} (only to or from 1); build the model with "
                       f"in_channels={saved}")


def read_weights(path: PathLike, resize: Size, num_classes: int,
                 in_channels: int = IN_CHANNELS, skip_head: bool = False,
                 log: Log | None = print) -> dict[str, np.ndarray]:
    """Read and check a weights file for the network of ``in_channels``×``resize`` inputs and
    ``num_classes`` classes; returns the canonical tensors (without the last dense layer when
    ``skip_head``; with the first convolution adapted, and one line through ``log``, when the
    file has another channel count). A mismatch raises :class:`WeightsError` naming what the
    file was saved for and the option that would help, and so do NaN or infinite values. A
    checkpoint (``core/checkpoint.py``) gives the weights it holds, said in one line."""
    tensors, metadata = read_tensors(path, log)
    saved_resize, saved_classes, _ = _saved_for(path, metadata)
    if saved_resize is not None and as_size(saved_resize) != as_size(resize):
        raise WeightsError(f"{path} holds weights for {format_size(saved_resize)} inputs (the "
                           f"model: {format_size(resize)}): build the model with "
                           f"resize={saved_resize!r}, the size the file was saved for")
    if saved_classes is not None and saved_classes != num_classes and not skip_head:
        raise WeightsError(f"{path} holds weights for {saved_classes} classes (the model: "
                           f"{num_classes}): build the model with num_classes={saved_classes}, "
                           "or pass skip_head=True (the CLI's --new-head) to load all but the "
                           "last layer")
    tensors = dict(tensors)
    if "conv1.weight" in tensors and tensors["conv1.weight"].ndim == 4:
        saved_channels = tensors["conv1.weight"].shape[1]
        tensors["conv1.weight"], rule = adapt_channels(tensors["conv1.weight"], in_channels)
        if rule is not None and log is not None:
            log(say("conv1_adapted", path=path, saved=saved_channels, channels=in_channels,
                    rule=rule))
    if skip_head:
        for name in head_names(resize, num_classes, in_channels):
            tensors.pop(name, None)
    try:
        check_shapes(tensors, resize, num_classes, in_channels, skip_head)
    except WeightsError as error:
        raise WeightsError(f"{path}: {error}") from None
    check_finite(path, tensors)
    return tensors


def load_weights(path: PathLike, layout: str, resize: Size, num_classes: int,
                 in_channels: int = IN_CHANNELS, skip_head: bool = False,
                 log: Log | None = print) -> list[tuple[str, np.ndarray]]:
    """Read and check a weights file (:func:`read_weights`); returns ``[(name, array), ...]``
    in ``layout`` and the table's order (the head left out when ``skip_head``), for a backend's
    ``assign_parameter_arrays``."""
    tensors = read_weights(path, resize, num_classes, in_channels, skip_head, log)
    return from_canonical(tensors, layout, resize, num_classes, in_channels, skip_head)


def weights_metadata(path: PathLike) -> dict[str, Any]:
    """The metadata of a safetensors weights file (``epoch`` and ``val_acc`` of a
    ``best.safetensors``, say), read from its header only; :class:`WeightsError` otherwise."""
    with _open(path) as handle:
        return _metadata(path, handle)


def saved_metadata(path: PathLike) -> dict[str, Any]:
    """``{"resize", "num_classes", "in_channels", "classes"}`` recorded in a weights file's
    header, or a checkpoint's (``None`` where absent; ``classes`` a list of names). Reads only
    the header of a weights file, so it is cheap on any file size."""
    metadata = (read_tensors(path, log=None)[1] if is_checkpoint(path)
                else weights_metadata(path))
    saved = dict(zip(("resize", "num_classes", "in_channels"), _saved_for(path, metadata)))
    saved["classes"] = decode_classes(path, metadata.get("classes"), saved["num_classes"])
    return saved


def saved_architecture(path: PathLike) -> tuple[Size | None, int | None]:
    """``(resize, num_classes)`` recorded in a weights file's header (``None`` where absent)."""
    found = saved_metadata(path)
    return found["resize"], found["num_classes"]
