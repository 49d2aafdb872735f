"""One weights file for every backend (safetensors, canonical layout).

Why safetensors rather than ``.npz``: it is the ecosystem's standard for weights (readable by the
``safetensors`` library in any framework, and by Rust or C++ tools), it cannot carry pickled code,
its header is plain JSON with room for metadata (architecture, input size, classes), and it is
simple enough to write and read here with numpy alone, so the core needs no new dependency.

The canonical layout (PyTorch's and MXNet's own):
- names ``conv1`` … ``conv5``, ``dense1`` … ``dense3``, each with ``.weight`` and ``.bias``;
- convolution kernels OIHW ``(out, in, kh, kw)``; dense weights ``(out, in)``;
- ``dense1.weight`` columns in the flatten order of a channels-first map, C×H×W.
TensorFlow and JAX work channels-last: kernels HWIO, dense kernels ``(in, out)``, and flatten
order H×W×C, so :func:`to_canonical`/:func:`from_canonical` transpose and permute for them.

The header's ``__metadata__`` records ``format``, ``architecture``, ``resize``, ``num_classes``,
``layout`` and ``saved_by`` (the backend), so loading names a mismatch in words rather than in
shapes. Files without it (written by another tool in the canonical layout) load when every tensor
has the right name and shape.
"""

import json
import os
import struct

import numpy as np

from .architecture import layer_table
from .files import atomic_write_bytes

FORMAT = "d2l_alexnet"  # the metadata's "format": files of this library
ARCHITECTURE = "alexnet-d2l"  # the chapter's network, first convolution unpadded
CANONICAL_LAYOUT = "conv OIHW, dense (out, in), flatten CHW"
LAYOUTS = ("NCHW", "NHWC")
_MAX_HEADER = 1 << 20  # our headers are about 1 KB; a larger one is not ours


class WeightsError(Exception):
    """A weights file is unreadable or does not fit the network; the message says which."""


def canonical_shapes(resize, num_classes):
    """``({name: shape}, (C, H, W) before flatten)`` in the table's order for a
    ``resize``×``resize`` input."""
    shapes, in_shape, flatten_from = {}, (1,), None
    counters = {"conv": 0, "dense": 0}
    for row in layer_table(resize, num_classes):
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
    return shapes, flatten_from


def _native_shape(name, shape, layout):
    """The shape of canonical tensor ``name`` in ``layout``."""
    if layout == "NCHW" or not name.endswith(".weight"):
        return shape
    if len(shape) == 4:
        out, inp, kh, kw = shape
        return (kh, kw, inp, out)  # HWIO
    return (shape[1], shape[0])  # (in, out); dense1's rows are the H×W×C flatten order


def to_canonical(arrays, layout, resize, num_classes):
    """A backend's ``parameter_arrays`` (its own layout, the table's order) ->
    ``{canonical name: float32 array}``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    shapes, (channels, height, width) = canonical_shapes(resize, num_classes)
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


def from_canonical(tensors, layout, resize, num_classes):
    """``{canonical name: array}`` -> ``[(name, array), ...]`` in a backend's own layout and the
    table's order (what its ``assign_parameter_arrays`` takes)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    check_shapes(tensors, resize, num_classes)
    shapes, (channels, height, width) = canonical_shapes(resize, num_classes)
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


def match_arrays(arrays, targets):
    """Pair ``[(name, array), ...]`` with a model's ``[(parameter name, shape), ...]`` in order;
    returns the arrays as contiguous float32, or raises :class:`WeightsError` (before anything
    is assigned) when the count or a shape differs."""
    arrays, targets = list(arrays), list(targets)
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


def check_shapes(tensors, resize, num_classes):
    """Raise :class:`WeightsError` unless ``tensors`` are exactly the canonical tensors of the
    network for ``resize``×``resize`` inputs and ``num_classes`` classes."""
    shapes, _ = canonical_shapes(resize, num_classes)
    missing = [name for name in shapes if name not in tensors]
    extra = [name for name in tensors if name not in shapes]
    if missing or extra:
        raise WeightsError(f"not AlexNet weights of this library: missing {missing or 'none'}, "
                           f"unexpected {extra or 'none'}")
    for name, shape in shapes.items():
        if tuple(tensors[name].shape) != shape:
            raise WeightsError(
                f"{name} has shape {tuple(tensors[name].shape)}, the network needs {shape}: "
                f"the file was made for another input size or number of classes")


def save_safetensors(path, tensors, metadata=None):
    """Write ``tensors`` (a dict of arrays, stored as float32) as a safetensors file, atomically:
    an 8-byte little-endian header length, the JSON header, then the raw little-endian data."""
    header, offset, chunks = {}, 0, []
    for name, array in tensors.items():
        array = np.asarray(array)
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    if metadata:
        header["__metadata__"] = {str(key): str(value) for key, value in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data to 8 bytes
    atomic_write_bytes(path, struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def _read_header(handle, size):
    """``(tensor entries, metadata, header length)`` from an open safetensors file of ``size``
    bytes; raises ``ValueError`` on anything malformed."""
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise ValueError(f"{len(prefix)} bytes, shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if not 0 < length <= min(_MAX_HEADER, size - 8):
        raise ValueError(f"header length {length} out of range")
    header = json.loads(handle.read(length).decode("utf-8"))  # errors are ValueErrors
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ValueError("__metadata__ is not a JSON object")
    return header, metadata, length


def _invalid(path, error):
    return WeightsError(f"{path} is not a valid safetensors weights file ({error}); it may be "
                        "truncated or corrupt")


def load_safetensors(path):
    """Read a safetensors file of float32 tensors; returns ``(tensors, metadata)``. Anything
    truncated, corrupt or not float32 raises :class:`WeightsError`."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            try:
                header, metadata, length = _read_header(handle, size)
            except (ValueError, struct.error) as error:
                raise _invalid(path, error) from None
            data = bytearray(size - 8 - length)  # writable, so the arrays below are too
            received = handle.readinto(data)
    except OSError as error:
        raise WeightsError(f"cannot read weights file {path}: {error.strerror or error}") from None
    try:
        if received != len(data):
            raise ValueError("the file changed while it was read")
        tensors, end = {}, 0
        for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            start, stop = entry["data_offsets"]
            if entry["dtype"] != "F32":
                raise ValueError(f"{name} is {entry['dtype']}, only F32 is supported")
            count = int(np.prod(entry["shape"], dtype=np.int64))
            if start != end or stop - start != 4 * count or stop > len(data):
                raise ValueError(f"{name}: data offsets {start}..{stop} are inconsistent")
            tensors[name] = (np.frombuffer(data, dtype="<f4", count=count, offset=start)
                             .reshape(entry["shape"]))
            end = stop
        if end != len(data):
            raise ValueError(f"{len(data) - end} bytes after the last tensor")
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise _invalid(path, error) from None
    return tensors, metadata


def save_weights(path, arrays, layout, resize, num_classes, backend):
    """Save a backend's ``parameter_arrays`` (its own layout) in the canonical layout, with the
    architecture in the metadata so that loading can name a mismatch."""
    tensors = to_canonical(arrays, layout, resize, num_classes)
    save_safetensors(path, tensors, {"format": FORMAT, "architecture": ARCHITECTURE,
                                     "resize": resize, "num_classes": num_classes,
                                     "layout": CANONICAL_LAYOUT, "saved_by": backend})


def _saved_for(path, metadata):
    """``(resize, num_classes)`` a file was saved for, from its metadata (``None`` where absent,
    as in a file written by another tool)."""
    if metadata.get("format") not in (None, FORMAT):
        raise WeightsError(f"{path} was not written by d2l_alexnet (format "
                           f"{metadata.get('format')!r})")
    if metadata.get("architecture") not in (None, ARCHITECTURE):
        raise WeightsError(f"{path} holds a {metadata['architecture']!r} network, not this "
                           f"library's AlexNet ({ARCHITECTURE!r})")
    try:
        return tuple(int(metadata[key]) if key in metadata else None
                     for key in ("resize", "num_classes"))
    except (ValueError, TypeError):
        raise WeightsError(f"{path} has unreadable metadata (resize "
                           f"{metadata.get('resize')!r}, num_classes "
                           f"{metadata.get('num_classes')!r})") from None


def read_weights(path, resize, num_classes):
    """Read and check a weights file for the network of ``resize``×``resize`` inputs and
    ``num_classes`` classes; returns the canonical tensors. A mismatch raises
    :class:`WeightsError` naming what the file was saved for."""
    tensors, metadata = load_safetensors(path)
    saved_resize, saved_classes = _saved_for(path, metadata)
    mismatches = []
    if saved_resize is not None and saved_resize != resize:
        mismatches.append(f"{saved_resize}×{saved_resize} inputs (the model: {resize}×{resize})")
    if saved_classes is not None and saved_classes != num_classes:
        mismatches.append(f"{saved_classes} classes (the model: {num_classes})")
    if mismatches:
        raise WeightsError(f"{path} holds weights for {' and '.join(mismatches)}: use the "
                           "resize and number of classes it was saved with")
    try:
        check_shapes(tensors, resize, num_classes)
    except WeightsError as error:
        raise WeightsError(f"{path}: {error}") from None
    return tensors


def load_weights(path, layout, resize, num_classes):
    """Read and check a weights file; returns ``[(name, array), ...]`` in ``layout`` and the
    table's order, for a backend's ``assign_parameter_arrays``."""
    return from_canonical(read_weights(path, resize, num_classes), layout, resize, num_classes)


def saved_architecture(path):
    """``(resize, num_classes)`` recorded in a weights file's header (``None`` where absent).
    Reads only the header, so it is cheap on any file size."""
    try:
        with open(path, "rb") as handle:
            _, metadata, _ = _read_header(handle, os.fstat(handle.fileno()).st_size)
    except OSError as error:
        raise WeightsError(f"cannot read weights file {path}: {error.strerror or error}") from None
    except (ValueError, struct.error) as error:
        raise _invalid(path, error) from None
    return _saved_for(path, metadata)
