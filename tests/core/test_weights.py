"""The canonical weights file: safetensors read and written by the safetensors library, the
NCHW <-> NHWC conversion proven numerically, and every malformed or mismatched file refused in
words."""

import errno
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

from d2l_alexnet.core import files, weights
from d2l_alexnet.core.architecture import ALEXNET, layer_table, parameter_count
from d2l_alexnet.core.checkpoint import write_checkpoint
from d2l_alexnet.core.weights import WeightsError
from repository import child_env

SMALL = 67  # the smallest input AlexNet accepts: 256 features reach the first dense layer


def random_canonical(resize=SMALL, num_classes=10, seed=0):
    """Canonical tensors of the right shapes, scaled like Xavier so activations stay moderate."""
    rng = np.random.default_rng(seed)
    shapes, _ = weights.canonical_shapes(resize, num_classes)
    tensors = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = 1.0 / np.sqrt(fan_in) if name.endswith(".weight") else 0.1
        tensors[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return tensors


@pytest.fixture(scope="module")
def canonical():
    return random_canonical()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, canonical):
    path = tmp_path_factory.mktemp("weights") / "weights.safetensors"
    arrays = weights.from_canonical(canonical, "NCHW", SMALL, 10)
    weights.save_weights(path, arrays, "NCHW", SMALL, 10, backend="test")
    return path


def test_canonical_shapes_are_the_chapters():
    shapes, flatten_from = weights.canonical_shapes(224, 10)
    assert list(shapes) == [f"{kind}{i}.{part}" for kind, count in (("conv", 5), ("dense", 3))
                            for i in range(1, count + 1) for part in ("weight", "bias")]
    assert shapes["conv1.weight"] == (96, 1, 11, 11) and shapes["conv2.weight"] == (256, 96, 5, 5)
    assert shapes["dense1.weight"] == (4096, 6400) and shapes["dense3.weight"] == (10, 4096)
    assert flatten_from == (256, 5, 5)
    assert sum(int(np.prod(shape)) for shape in shapes.values()) == parameter_count(224, 10)


def test_round_trip_keeps_every_value_and_records_the_architecture(saved, canonical):
    tensors, metadata = weights.load_safetensors(saved)
    assert sorted(tensors) == sorted(canonical)
    for name, array in canonical.items():
        assert tensors[name].dtype == np.float32
        np.testing.assert_array_equal(tensors[name], array, err_msg=name)
    assert metadata["format"] == "d2l_alexnet" and metadata["saved_by"] == "test"
    assert (metadata["resize"], metadata["num_classes"]) == (str(SMALL), "10")
    assert weights.saved_architecture(saved) == (SMALL, 10)
    loaded = weights.load_weights(saved, "NCHW", SMALL, 10)
    assert [name for name, _ in loaded] == list(canonical)
    assert all(array.flags.writeable for _, array in loaded)  # frameworks may take them as is


def test_nhwc_round_trip_is_exact(canonical):
    native = weights.from_canonical(canonical, "NHWC", SMALL, 10)
    assert native[0][1].shape == (11, 11, 1, 96)  # HWIO
    assert native[10][1].shape == (256, 4096)  # (in, out)
    back = weights.to_canonical(native, "NHWC", SMALL, 10)
    for name, array in canonical.items():
        np.testing.assert_array_equal(back[name], array, err_msg=name)


# ---- the layout conversion, proven on numbers -----------------------------------------------

def conv(X, kernel, bias, stride, padding, layout):
    """Cross-correlation as every framework computes it, in numpy; one image, no batch axis."""
    if layout == "NHWC":  # (H, W, C) with an HWIO kernel: compute in CHW/OIHW and come back
        return conv(X.transpose(2, 0, 1), kernel.transpose(3, 2, 0, 1), bias, stride, padding,
                    "NCHW").transpose(1, 2, 0)
    X = np.pad(X, ((0, 0), (padding, padding), (padding, padding)))
    out, _, kh, kw = kernel.shape
    windows = np.lib.stride_tricks.sliding_window_view(X, (kh, kw), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # (C, H', W', kh, kw)
    return np.einsum("chwij,ocij->ohw", windows, kernel, optimize=True) + bias[:, None, None]


def maxpool(X, size, stride, layout):
    axes = (1, 2) if layout == "NCHW" else (0, 1)
    windows = np.lib.stride_tricks.sliding_window_view(X, (size, size), axis=axes)
    if layout == "NCHW":
        return windows[:, ::stride, ::stride].max(axis=(-2, -1))
    return windows[::stride, ::stride].max(axis=(-2, -1))


def forward(image, arrays, layout):
    """The table's network in plain numpy, in ``layout`` (weights as that layout stores them)."""
    X = image[None] if layout == "NCHW" else image[..., None]
    params = iter(array for _, array in arrays)
    for layer in ALEXNET:
        if layer.kind == "conv":
            X = conv(X, next(params), next(params), layer.stride, layer.padding, layout)
        elif layer.kind == "maxpool":
            X = maxpool(X, layer.kernel, layer.stride, layout)
        elif layer.kind == "relu":
            X = np.maximum(X, 0)
        elif layer.kind == "flatten":
            X = X.reshape(-1)  # C×H×W order for NCHW, H×W×C for NHWC
        elif layer.kind == "dense":
            kernel, bias = next(params), next(params)
            X = (kernel @ X if layout == "NCHW" else X @ kernel) + bias
    return X


def test_dense_on_a_chw_flatten_equals_converted_dense_on_an_hwc_flatten(canonical):
    """The permutation of dense1's columns is the whole trick: flattening a channels-first map
    and a channels-last map orders the same numbers differently."""
    rng = np.random.default_rng(1)
    shapes = {"resize": 131, "num_classes": 10}  # a 3×3 map: the order of H and W matters too
    tensors = random_canonical(**shapes)
    _, (c, h, w) = weights.canonical_shapes(**shapes)
    assert (h, w) == (3, 3)
    feature_map = rng.standard_normal((c, h, w)).astype(np.float32)
    weight = tensors["dense1.weight"]
    nhwc = dict(weights.from_canonical(tensors, "NHWC", **shapes))["dense1.weight"]
    channels_first = weight @ feature_map.reshape(-1)
    channels_last = feature_map.transpose(1, 2, 0).reshape(-1) @ nhwc
    np.testing.assert_allclose(channels_last, channels_first, rtol=1e-5, atol=1e-5)
    # Without the permutation (a plain transpose) the answer is wrong: the test can fail.
    assert not np.allclose(feature_map.transpose(1, 2, 0).reshape(-1) @ weight.T, channels_first,
                           rtol=1e-3, atol=1e-3)


def test_whole_network_gives_the_same_logits_in_both_layouts():
    resize = 131  # the last map is 3×3, so the flatten order is really exercised
    tensors = random_canonical(resize)
    image = np.random.default_rng(2).random((resize, resize), dtype=np.float32)
    nchw = forward(image, weights.from_canonical(tensors, "NCHW", resize, 10), "NCHW")
    nhwc = forward(image, weights.from_canonical(tensors, "NHWC", resize, 10), "NHWC")
    assert nchw.shape == (10,) and np.abs(nchw).max() > 1e-3
    np.testing.assert_allclose(nhwc, nchw, rtol=1e-4, atol=1e-5 * np.abs(nchw).max())


# ---- malformed and mismatched files ----------------------------------------------------------

def write_raw(path, header, data=b"", length=None):
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded) if length is None else length) + encoded
                     + data)
    return path


GOOD_HEADER = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
MALFORMED = {
    "empty": (None, b""),
    "short length": (None, b"\x10\x00"),
    "length past the end": ({"length": 1 << 40}, None),
    "not json": (None, struct.pack("<Q", 5) + b"{nope"),
    "not an object": ([1, 2], b""),
    "not utf-8": (None, struct.pack("<Q", 2) + b"\xff\xfe"),
    "missing offsets": ({"a": {"dtype": "F32", "shape": [2]}}, b"\x00" * 8),
    "integers": ({"a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 8),
    "truncated data": (GOOD_HEADER, b"\x00" * 5),
    "trailing bytes": (GOOD_HEADER, b"\x00" * 12),
    "overlapping": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                     "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\x00" * 8),
    "bad shape": ({"a": {"dtype": "F32", "shape": "xy", "data_offsets": [0, 8]}}, b"\x00" * 8),
    "metadata not an object": ({"__metadata__": [1]}, b""),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_are_refused_in_one_sentence(tmp_path, case):
    header, data = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    if header is None:
        path.write_bytes(data)
    elif isinstance(header, dict) and "length" in header:
        write_raw(path, GOOD_HEADER, b"\x00" * 8, length=header["length"])
    else:
        write_raw(path, header, data)
    with pytest.raises(WeightsError, match="not a valid safetensors weights file") as caught:
        weights.load_safetensors(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_half_and_double_precision_files_load_as_float32(tmp_path, canonical):
    """A file another tool wrote in float16 or float64 loads, as float32 values."""
    for dtype in (np.float16, np.float64):
        path = tmp_path / f"{np.dtype(dtype).name}.safetensors"
        path.write_bytes(safetensors.numpy.save({name: array.astype(dtype)
                                                 for name, array in canonical.items()}))
        loaded = dict(weights.load_weights(path, "NCHW", SMALL, 10))
        assert {array.dtype for array in loaded.values()} == {np.dtype(np.float32)}
        np.testing.assert_array_equal(loaded["conv3.weight"],
                                      canonical["conv3.weight"].astype(dtype).astype(np.float32))


def write_like_the_first_writer(path, tensors, metadata):
    """The layout our own writer produced before the safetensors library wrote the files: the
    tensors in the order given, float32 little-endian, the JSON header padded with spaces to 8
    bytes, metadata values as strings."""
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {key: str(value) for key, value in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def test_a_file_written_before_the_safetensors_library_still_loads(tmp_path, canonical):
    path = tmp_path / "first-writer.safetensors"
    write_like_the_first_writer(path, canonical, {"format": weights.FORMAT,
                                                  "architecture": weights.ARCHITECTURE,
                                                  "resize": SMALL, "num_classes": 10,
                                                  "in_channels": 1})
    assert weights.saved_metadata(path) == {"resize": SMALL, "num_classes": 10, "in_channels": 1,
                                            "classes": None}
    loaded = dict(weights.load_weights(path, "NCHW", SMALL, 10))
    for name, array in canonical.items():
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


def test_a_truncated_real_file_is_refused_at_every_cut(tmp_path, saved):
    payload = saved.read_bytes()
    for cut in (0, 7, 8, 100, len(payload) // 2, len(payload) - 1):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(payload[:cut])
        with pytest.raises(WeightsError, match="truncated or corrupt"):
            weights.load_weights(path, "NCHW", SMALL, 10)
    # A flipped byte in the header's JSON is caught too.
    corrupt = bytearray(payload)
    corrupt[9] ^= 0xFF
    (tmp_path / "flipped.safetensors").write_bytes(bytes(corrupt))
    with pytest.raises(WeightsError):
        weights.load_weights(tmp_path / "flipped.safetensors", "NCHW", SMALL, 10)


def test_unreadable_paths_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="cannot read weights file .*missing"):
        weights.load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(WeightsError, match="cannot read weights file"):
        weights.load_safetensors(tmp_path)  # a directory
    with pytest.raises(WeightsError, match="cannot read weights file"):
        weights.saved_architecture(tmp_path / "missing.safetensors")


def test_a_file_for_another_input_size_or_class_count_names_the_mismatch(saved):
    with pytest.raises(WeightsError, match="67×67 inputs \\(the model: 224×224\\)"):
        weights.load_weights(saved, "NCHW", 224, 10)
    with pytest.raises(WeightsError, match="10 classes \\(the model: 7\\)"):
        weights.load_weights(saved, "NHWC", SMALL, 7)


def test_foreign_files_are_checked_by_names_and_shapes(tmp_path, canonical):
    path = tmp_path / "foreign.safetensors"
    weights.save_safetensors(path, canonical)  # no metadata: shapes decide
    loaded = dict(weights.load_weights(path, "NCHW", SMALL, 10))
    np.testing.assert_array_equal(loaded["dense3.bias"], canonical["dense3.bias"])
    with pytest.raises(WeightsError, match=r"dense3.weight is \(10, 4096\) in the file, the "
                       r"model's is \(7, 4096\): pass skip_head=True"):
        weights.load_weights(path, "NCHW", SMALL, 7)
    renamed = {name.replace("conv1", "features.0"): array for name, array in canonical.items()}
    weights.save_safetensors(path, renamed)
    with pytest.raises(WeightsError, match="missing \\['conv1.weight', 'conv1.bias'\\]"):
        weights.load_weights(path, "NCHW", SMALL, 10)
    weights.save_safetensors(path, canonical, {"format": "keras"})
    with pytest.raises(WeightsError, match="not written by d2l_alexnet"):
        weights.load_weights(path, "NCHW", SMALL, 10)


def test_arrays_of_the_wrong_shape_or_count_are_refused(canonical):
    native = weights.from_canonical(canonical, "NHWC", SMALL, 10)
    with pytest.raises(WeightsError, match="expected 16 arrays"):
        weights.to_canonical(native[:-1], "NHWC", SMALL, 10)
    with pytest.raises(WeightsError, match="conv1.weight.*needs \\(11, 11, 1, 96\\)"):
        weights.to_canonical(weights.from_canonical(canonical, "NCHW", SMALL, 10), "NHWC",
                             SMALL, 10)
    with pytest.raises(ValueError, match="layout must be one of"):
        weights.to_canonical(native, "CHWN", SMALL, 10)


def test_a_failed_save_leaves_no_file(tmp_path, canonical, monkeypatch):
    path = tmp_path / "weights.safetensors"
    with pytest.raises(WeightsError):  # refused before any file is opened
        weights.save_weights(path, list(canonical.items())[:3], "NCHW", SMALL, 10, "test")
    assert list(tmp_path.iterdir()) == []

    # A disk that fills mid-write: the temporary file exists and holds the data when the fsync
    # fails; it must be gone afterwards, and no weights file may appear.
    temporaries = []

    def full_disk(descriptor):
        temporaries.extend(tmp_path.glob(".weights.safetensors.*.tmp"))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    arrays = weights.from_canonical(canonical, "NCHW", SMALL, 10)
    with pytest.raises(OSError, match="No space left on device"):
        weights.save_weights(path, arrays, "NCHW", SMALL, 10, "test")
    assert len(temporaries) == 1, "the write failed before its temporary file existed"
    assert list(tmp_path.iterdir()) == []


def test_saving_to_a_folder_or_into_a_missing_one_is_refused_in_one_line(tmp_path, canonical):
    """``model.save_weights(path)`` where ``path`` is a folder, or in a folder not made yet:
    the OS's IsADirectoryError or FileNotFoundError named the hidden temporary file."""
    arrays = weights.from_canonical(canonical, "NCHW", SMALL, 10)
    with pytest.raises(WeightsError) as error:
        weights.save_weights(tmp_path, arrays, "NCHW", SMALL, 10, "test")
    assert str(error.value) == (f"cannot write weights file {tmp_path}: it is a folder: name a "
                                f"file, {tmp_path / 'weights.safetensors'} say")
    missing = tmp_path / "not-yet" / "weights.safetensors"
    with pytest.raises(WeightsError) as error:
        weights.save_weights(missing, arrays, "NCHW", SMALL, 10, "test")
    assert str(error.value) == (f"cannot write weights file {missing}: there is no folder "
                                f"{missing.parent}: make it first (os.makedirs("
                                f"{str(missing.parent)!r}, exist_ok=True))")
    assert list(tmp_path.iterdir()) == []


# ---- files written by the safetensors library alone, and read by it -------------------------

def test_the_safetensors_library_reads_our_file(saved, canonical):
    tensors = safetensors.numpy.load_file(str(saved))
    assert set(tensors) == set(canonical)
    for name, array in canonical.items():
        np.testing.assert_array_equal(tensors[name], array, err_msg=name)


def test_we_read_a_file_written_by_the_safetensors_library(tmp_path, canonical):
    path = tmp_path / "theirs.safetensors"
    safetensors.numpy.save_file(canonical, str(path), metadata={"resize": str(SMALL)})
    loaded = dict(weights.load_weights(path, "NHWC", SMALL, 10))
    np.testing.assert_array_equal(loaded["conv2.weight"],
                                  canonical["conv2.weight"].transpose(2, 3, 1, 0))
    assert weights.saved_architecture(path) == (SMALL, None)


def test_layer_table_and_canonical_names_agree():
    rows = [row for row in layer_table(SMALL) if row.layer.kind in ("conv", "dense")]
    shapes, _ = weights.canonical_shapes(SMALL, 10)
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    assert [w + b for w, b in zip(sizes[0::2], sizes[1::2])] == [row.parameters for row in rows]


def test_weights_and_the_evaluate_cli_import_no_framework():
    code = ("import sys, d2l_alexnet.evaluate, d2l_alexnet.core.weights\n"
            "print(sorted(name for name in ('torch', 'tensorflow', 'jax', 'flax', 'mxnet', "
            "'keras') if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- values, types and files the loader met in issue #34 ---------------------------------------

def save_canonical(path, tensors, resize=SMALL):
    weights.save_weights(path, weights.from_canonical(tensors, "NCHW", resize, 10), "NCHW",
                         resize, 10, backend="test")
    return path


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, canonical, bad):
    tensors = dict(canonical, **{"conv4.weight": canonical["conv4.weight"].copy(),
                                 "dense3.bias": canonical["dense3.bias"].copy()})
    tensors["conv4.weight"][1, 2, 0, 0] = bad
    path = save_canonical(tmp_path / "diverged.safetensors", tensors)
    with pytest.raises(WeightsError) as caught:
        weights.load_weights(path, "NHWC", SMALL, 10)
    assert str(caught.value) == (f"{path}: conv4.weight holds 1 NaN or infinite value(s), the "
                                 "weights of a run that diverged: use a file saved before its "
                                 "loss became NaN")
    # Only what is loaded counts: a head left out with skip_head may hold anything.
    tensors["conv4.weight"] = canonical["conv4.weight"]
    tensors["dense3.bias"][:] = bad
    save_canonical(path, tensors)
    with pytest.raises(WeightsError, match="dense3.bias holds 10 NaN"):
        weights.read_weights(path, SMALL, 10)
    assert len(weights.load_weights(path, "NCHW", SMALL, 10, skip_head=True)) == 14


def test_the_clis_refuse_non_finite_weights_with_exit_2(tmp_path, canonical, capsys):
    from d2l_alexnet import evaluate, train

    tensors = dict(canonical, **{"dense1.bias": canonical["dense1.bias"].copy()})
    tensors["dense1.bias"][7] = np.nan
    path = save_canonical(tmp_path / "diverged.safetensors", tensors)
    assert evaluate.main(["--backend", "pytorch", "--weights", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --weights: {path}: dense1.bias holds 1 NaN or infinite value(s), the weights of "
        "a run that diverged: use a file saved before its loss became NaN"]
    out = tmp_path / "run"
    assert train.main(["--backend", "jax", "--resize", str(SMALL), "--init-from", str(path),
                       "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --init-from: ") and "dense1.bias holds 1 NaN" in line
    assert not out.exists()


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# bfloat16-by-torch.safetensors: written by safetensors.torch.save_file from torch.bfloat16
# tensors of these values (each exact in bfloat16), with its metadata naming the versions.
BFLOAT16_VALUES = {"weight": [[1.0, -2.5, 3.140625], [0.0009765625, -0.0, 65280.0]],
                   "bias": [0.5, -1.0, 100.0]}


def test_a_bfloat16_file_written_by_torch_loads_as_float32():
    tensors, metadata = weights.load_safetensors(os.path.join(FIXTURES,
                                                              "bfloat16-by-torch.safetensors"))
    assert metadata["written_by"].startswith("safetensors.torch ")
    for name, values in BFLOAT16_VALUES.items():
        assert tensors[name].dtype == np.float32 and tensors[name].flags.writeable
        np.testing.assert_array_equal(tensors[name], np.array(values, dtype=np.float32))
    assert np.signbit(tensors["weight"][1, 1])  # -0.0 keeps its sign


def bfloat16_bytes(array):
    """The bytes of ``array`` in bfloat16, truncated: the top 16 bits of each float32."""
    return (np.ascontiguousarray(array, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()


def test_a_bfloat16_alexnet_file_loads_in_any_layout(tmp_path, canonical):
    header, chunks, offset = {}, [], 0
    for name, array in canonical.items():  # built by hand, as test_malformed_files_... does
        data = bfloat16_bytes(array)
        header[name] = {"dtype": "BF16", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    path = write_raw(tmp_path / "bf16.safetensors", header, b"".join(chunks))
    loaded = dict(weights.load_weights(path, "NHWC", SMALL, 10))
    truncated = {name: (array.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
                 for name, array in canonical.items()}
    np.testing.assert_array_equal(loaded["conv2.weight"],
                                  truncated["conv2.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(loaded["dense3.bias"], truncated["dense3.bias"])


def test_a_floating_type_numpy_cannot_hold_is_named(tmp_path):
    path = write_raw(tmp_path / "fp8.safetensors",
                     {"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0")
    with pytest.raises(WeightsError) as caught:
        weights.load_safetensors(path)
    assert str(caught.value) == (f"{path}: a is stored as F8_E4M3, which d2l_alexnet cannot "
                                 "read: save the weights as float32, float16 or bfloat16")


def as_checkpoint(path, tensors, backend, step=12, classes=None):
    """A checkpoint (core/checkpoint.py) holding ``tensors`` the way ``backend`` saves its
    parameters: PyTorch's ``params.net.<index>.weight`` in the table's order and NCHW; JAX's
    ``params.net.layers_<index>.kernel`` in the order of its sorted pytree (``layers_10`` before
    ``layers_2``, bias before kernel) and NHWC; with optimizer and RNG arrays beside them."""
    layout = weights.BACKEND_LAYOUTS[backend]
    native = weights.from_canonical(tensors, layout, SMALL, 10)
    arrays = {}
    for index, (name, array) in enumerate(native):
        layer, kind = 3 * (index // 2), name.rsplit(".", 1)[1]
        if backend == "jax":
            arrays[f"params.net.layers_{layer}.{'kernel' if kind == 'weight' else kind}"] = array
        else:
            arrays[f"params.net.{layer}.{kind}"] = array
        arrays[f"optimizer.{index}.momentum_buffer"] = np.ones_like(array)
    if backend == "jax":
        arrays = dict(sorted(arrays.items()))
    arrays["rng.state"] = np.arange(4, dtype=np.uint32)
    write_checkpoint(path, {"backend": backend, "architecture": weights.ARCHITECTURE,
                            "resize": SMALL, "num_classes": 10, "in_channels": 1,
                            "step": step, "epoch": 1, "batch": 0, "history": [],
                            "classes": classes}, arrays)
    return path


@pytest.mark.parametrize("backend", ["pytorch", "jax"])
def test_a_checkpoint_gives_the_weights_it_holds_and_says_so(tmp_path, canonical, backend):
    path = as_checkpoint(tmp_path / "checkpoint-12.ckpt", canonical, backend)
    lines = []
    loaded = dict(weights.load_weights(path, "NCHW", SMALL, 10, log=lines.append))
    for name, array in canonical.items():
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)
    assert lines == [f"{path} is a checkpoint: took the model weights it holds (step 12 of a "
                     f"{backend} run); to continue that run itself, pass its folder as "
                     "--checkpoint-dir with --resume"]
    assert weights.saved_metadata(path) == {"resize": SMALL, "num_classes": 10, "in_channels": 1,
                                            "classes": None}
    with pytest.raises(WeightsError, match="67×67 inputs \\(the model: 224×224\\)"):
        weights.read_weights(path, 224, 10, log=None)


def test_a_checkpoint_names_the_classes_its_run_trained_on(tmp_path, canonical):
    names = [f"class {index}" for index in range(10)]
    path = as_checkpoint(tmp_path / "checkpoint-12.ckpt", canonical, "pytorch", classes=names)
    assert weights.saved_metadata(path)["classes"] == names


def test_the_clis_take_a_checkpoints_weights(tmp_path, canonical, capsys):
    """``--init-from`` and ``evaluate --weights`` read their file in ``validate``, before any
    framework is imported; ``evaluate`` takes the input size from the checkpoint."""
    from d2l_alexnet import evaluate, train

    path = as_checkpoint(tmp_path / "checkpoint-12.ckpt", canonical, "pytorch")
    train_args = train.build_parser().parse_args(["--backend", "pytorch", "--resize",
                                                  str(SMALL), "--init-from", str(path)])
    train.validate(train_args)
    evaluate_args = evaluate.build_parser().parse_args(["--backend", "pytorch", "--weights",
                                                        str(path)])
    evaluate.validate(evaluate_args)
    assert evaluate_args.resize == SMALL
    for tensors in (train_args.init_tensors, evaluate_args.tensors):
        np.testing.assert_array_equal(tensors["dense1.weight"], canonical["dense1.weight"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path} is a checkpoint: took the model "
                                                   "weights it holds") for line in lines)


def test_a_corrupt_checkpoint_is_named_as_one(tmp_path, canonical):
    path = as_checkpoint(tmp_path / "checkpoint-12.ckpt", canonical, "pytorch")
    payload = bytearray(path.read_bytes())
    payload[-3] ^= 0x01
    path.write_bytes(bytes(payload))
    with pytest.raises(WeightsError, match=r"^checkpoint-12.ckpt is corrupt \(SHA-256"):
        weights.load_weights(path, "NCHW", SMALL, 10)


@pytest.mark.parametrize("name, cut", [("checkpoint-12.ckpt", 40), ("run.ckpt", -100)])
def test_a_truncated_checkpoint_is_named_as_one(tmp_path, canonical, name, cut):
    # By its name (cut inside the header), or by the format its header names (cut in the data).
    path = as_checkpoint(tmp_path / name, canonical, "pytorch")
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(WeightsError) as raised:
        weights.load_weights(path, "NCHW", SMALL, 10)
    assert str(raised.value).startswith(f"{name} is truncated or corrupt"), raised.value


SAVE_TWICE = """\
import sys
import numpy as np
from d2l_alexnet.core import weights
arrays = np.load(sys.argv[1])
tensors = {name: arrays[name] for name in arrays.files}
for index in range(2):
    weights.save_weights(f"{sys.argv[2]}-{index}.safetensors",
                         weights.from_canonical(tensors, "NCHW", 67, 10), "NCHW", 67, 10, "test")
"""


def test_the_same_weights_are_the_same_bytes_in_every_process(tmp_path, canonical, saved):
    """The safetensors library writes several metadata keys in a random order (a hash map,
    seeded per process and per map): one canonical-JSON entry makes the bytes depend on the
    content alone."""
    np.savez(tmp_path / "arrays.npz", **canonical)
    for seed in ("1", "2"):
        result = subprocess.run([sys.executable, "-c", SAVE_TWICE, str(tmp_path / "arrays.npz"),
                                 str(tmp_path / f"seed{seed}")], capture_output=True, text=True,
                                env=child_env(PYTHONHASHSEED=seed))
        assert result.returncode == 0, result.stderr
    written = {path.name: path.read_bytes() for path in tmp_path.glob("seed*.safetensors")}
    assert len(written) == 4
    assert set(written.values()) == {saved.read_bytes()}, "the same weights, other bytes"


def test_the_same_metadata_in_another_key_order_is_the_same_bytes(tmp_path):
    """A dict's order is how it was built (KeepBest's epoch, val_acc, val_loss; a caller's
    own): the keys are sorted, so the same content gives the same bytes."""
    tensors = {"dense.bias": np.arange(3, dtype=np.float32)}
    said = {"epoch": "2", "val_acc": "0.5", "val_loss": "1.25"}
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    weights.save_safetensors(first, tensors, said)
    weights.save_safetensors(second, tensors, dict(reversed(said.items())))
    assert first.read_bytes() == second.read_bytes()
    assert weights.load_safetensors(str(second))[1] == said


def test_a_file_with_the_metadata_as_separate_keys_still_loads(tmp_path, canonical):
    """How the safetensors library wrote our files before the metadata became one entry."""
    path = tmp_path / "separate-keys.safetensors"
    path.write_bytes(safetensors.numpy.save(canonical, metadata={
        "format": weights.FORMAT, "architecture": weights.ARCHITECTURE, "resize": str(SMALL),
        "num_classes": "10", "in_channels": "1", "layout": weights.CANONICAL_LAYOUT,
        "saved_by": "pytorch"}))
    assert weights.saved_metadata(path) == {"resize": SMALL, "num_classes": 10, "in_channels": 1,
                                            "classes": None}
    loaded = dict(weights.load_weights(path, "NCHW", SMALL, 10))
    np.testing.assert_array_equal(loaded["dense2.weight"], canonical["dense2.weight"])
    _, metadata = weights.load_safetensors(path)
    assert metadata["saved_by"] == "pytorch"


def test_class_names_are_saved_as_one_canonical_text_and_read_back(tmp_path, canonical):
    names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
             "bag", "ankle boot"]
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    for path in (first, second):  # the names as a list, then as a tuple: the same bytes
        weights.save_canonical(path, canonical, SMALL, 10, "test",
                               classes=names if path == first else tuple(names))
    assert first.read_bytes() == second.read_bytes()
    assert weights.saved_metadata(first)["classes"] == names
    assert weights.load_safetensors(first)[1]["classes"] == json.dumps(names,
                                                                       separators=(",", ":"))
    for bad in (names[:9], names[:9] + ["bag"], "t-shirt", [*names[:9], 9]):
        with pytest.raises(weights.WeightsError, match="classes") as caught:
            weights.save_canonical(tmp_path / "bad.safetensors", canonical, SMALL, 10, "test",
                                   classes=bad)
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "bad.safetensors").exists()
    weights.save_safetensors(tmp_path / "unreadable.safetensors", canonical, {
        "resize": SMALL, "num_classes": 10, "classes": '["only one"]'})
    with pytest.raises(weights.WeightsError, match="unreadable metadata"):
        weights.saved_metadata(tmp_path / "unreadable.safetensors")
