"""The first-layer filters figure and the kept kernel, on a tiny synthetic kernel."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from d2l_alexnet import filters as filters_cli
from d2l_alexnet.core import filters as core_filters
from d2l_alexnet.core.filters import (FiltersError, draw_filters, filter_mosaic, kernel_change,
                                      read_kernel, save_filters_png, save_kernel)
from d2l_alexnet.core.checkpoint import write_checkpoint
from d2l_alexnet.core.weights import canonical_shapes, load_safetensors, save_safetensors


def synthetic_kernel(count=5, channels=1, side=3):
    # Filter i spans [-i, i + 1]: different ranges, so per-filter scaling shows.
    ramp = np.linspace(0, 1, channels * side * side, dtype=np.float32)
    return np.stack([(2 * i + 1) * ramp - i for i in range(count)]).reshape(
        count, channels, side, side)


def tile(mosaic, index, side=3, columns=2, gap=1):
    row, column = divmod(index, columns)
    top, left = row * (side + gap), column * (side + gap)
    return mosaic[top:top + side, left:left + side]


def test_each_filter_is_scaled_to_its_own_range_in_a_grid():
    mosaic = filter_mosaic(synthetic_kernel(), columns=2)
    assert mosaic.shape == (3 * 4 - 1, 2 * 4 - 1, 3)  # 5 filters: 3 rows of 2, 1-pixel gaps
    for index in range(5):
        cell = tile(mosaic, index)
        assert cell.min() == 0 and cell.max() == 1
        assert np.array_equal(cell[..., 0], cell[..., 2])  # grey: equal colours
    assert np.all(tile(mosaic, 5) == 1)  # the sixth place of the grid is blank (white)
    assert np.all(mosaic[3, :] == 1)  # the gap between rows


def test_rgb_kernel_keeps_its_colours_and_constant_filter_is_mid_grey():
    kernel = synthetic_kernel(count=2, channels=3)
    kernel[1] = 7.0
    mosaic = filter_mosaic(kernel, columns=2)
    first = tile(mosaic, 0)
    assert not np.array_equal(first[..., 0], first[..., 2])
    # OIHW -> HWC: pixel (0, 0)'s red, green, blue are channels 0, 1, 2 at (0, 0).
    ramp = np.linspace(0, 1, 27)
    assert np.allclose(first[0, 0], ramp[[0, 9, 18]])
    assert np.all(tile(mosaic, 1) == 0.5)


@pytest.mark.parametrize("shape", [(4, 2, 3, 3), (4, 3, 3), (0, 1, 3, 3)])
def test_kernels_that_are_not_a_first_layer_are_refused(shape):
    with pytest.raises(FiltersError, match="has shape"):
        filter_mosaic(np.zeros(shape))


def test_a_kernel_with_nan_or_a_grid_of_no_columns_is_refused():
    """A diverged kernel was drawn as blank tiles; columns=0 divided by zero."""
    kernel = synthetic_kernel()
    kernel[1, 0, 2, 2] = np.nan
    with pytest.raises(FiltersError, match="holds NaN or infinite values: training diverged"):
        draw_filters(kernel)
    for columns in (0, 2.5):
        with pytest.raises(FiltersError, match="columns must be a whole number of at least 1"):
            filter_mosaic(synthetic_kernel(), columns=columns)


def test_draw_filters_makes_a_figure_of_the_mosaic():
    figure = draw_filters(synthetic_kernel(count=96, side=11), title="conv1")
    width, height = figure.get_size_inches()
    assert width > height  # 12 columns, 8 rows


def test_cli_keeps_the_kernel_and_draws_it(tmp_path, capsys):
    weights = tmp_path / "weights.safetensors"
    kernel = synthetic_kernel(count=96, side=11)
    save_safetensors(weights, {"conv1.weight": kernel, "conv1.bias": np.zeros(96),
                               "dense3.weight": np.ones((10, 4))}, {"saved_by": "pytorch"})
    kept, png = tmp_path / "conv1.safetensors", tmp_path / "filters.png"
    assert filters_cli.main(["--weights", str(weights), "--save-kernel", str(kept),
                             "--out", str(png)]) == 0
    tensors, metadata = load_safetensors(kept)
    assert list(tensors) == ["conv1.weight"] and np.array_equal(tensors["conv1.weight"], kernel)
    assert metadata == {"saved_by": "pytorch", "kept_from": "weights.safetensors"}
    assert np.array_equal(read_kernel(kept), kernel)
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > image.height
    assert "kept (96, 1, 11, 11) conv1.weight" in capsys.readouterr().out


def test_cli_reads_the_weights_once_and_keeps_what_save_kernel_keeps(tmp_path, monkeypatch):
    weights = tmp_path / "weights.safetensors"
    kernel = synthetic_kernel(count=96, side=11)
    save_safetensors(weights, {"conv1.weight": kernel, "conv1.bias": np.zeros(96)},
                     {"saved_by": "jax"})
    reads = []

    def counted_read(path, log=None):
        reads.append(str(path))
        return read_tensors(path, log)

    read_tensors = core_filters.read_tensors
    monkeypatch.setattr(core_filters, "read_tensors", counted_read)
    by_cli, by_function = tmp_path / "cli.safetensors", tmp_path / "function.safetensors"
    assert filters_cli.main(["--weights", str(weights), "--save-kernel", str(by_cli),
                             "--out", str(tmp_path / "filters.png")]) == 0
    assert reads == [str(weights)]
    assert np.array_equal(save_kernel(weights, by_function), kernel)
    assert by_cli.read_bytes() == by_function.read_bytes()
    assert load_safetensors(by_function)[1] == {"saved_by": "jax",
                                                "kept_from": "weights.safetensors"}


def test_cli_refuses_to_keep_the_kernel_over_the_file_it_reads(tmp_path, capsys):
    weights, start = tmp_path / "weights.safetensors", tmp_path / "start.safetensors"
    for path in (weights, start):
        save_safetensors(path, {"conv1.weight": synthetic_kernel(count=96, side=11)})
    before = weights.read_bytes()
    for flag, target in (("--weights", weights), ("--minus", start),
                         ("--weights", tmp_path / "." / "weights.safetensors")):
        assert filters_cli.main(["--weights", str(weights), "--minus", str(start),
                                 "--save-kernel", str(target)]) == 2
        assert f"is the {flag} file: keeping the kernel there would replace" in \
            capsys.readouterr().err
    assert weights.read_bytes() == before


def test_kernel_change_is_the_kernel_minus_its_start_of_the_same_shape():
    start = synthetic_kernel(count=4)
    trained = start + np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1)
    assert np.array_equal(kernel_change(trained, start), trained - start)
    with pytest.raises(FiltersError, match=r"the start has shape \(4, 1, 5, 5\)"):
        kernel_change(trained, synthetic_kernel(count=4, side=5))


def test_cli_minus_draws_what_training_changed_and_keeps_the_kernel_itself(tmp_path, capsys):
    start = synthetic_kernel(count=96, side=11)
    # Training added a vertical edge to every filter: hidden by the start, plain in the change.
    edge = np.zeros((96, 1, 11, 11), np.float32)
    edge[..., :5] = -1.0
    edge[..., 6:] = 1.0
    weights, initial = tmp_path / "weights.safetensors", tmp_path / "initial.safetensors"
    save_safetensors(weights, {"conv1.weight": start + edge})
    save_safetensors(initial, {"conv1.weight": start})
    kept, png = tmp_path / "conv1.safetensors", tmp_path / "change.png"
    assert filters_cli.main(["--weights", str(weights), "--minus", str(initial),
                             "--save-kernel", str(kept), "--out", str(png)]) == 0
    assert np.array_equal(read_kernel(kept), start + edge)  # the kernel itself, not the change
    save_filters_png(edge, tmp_path / "edge.png")
    save_filters_png(start + edge, tmp_path / "kernel.png")
    assert png.read_bytes() == (tmp_path / "edge.png").read_bytes()
    assert png.read_bytes() != (tmp_path / "kernel.png").read_bytes()
    assert f"drew 96 filters minus those of {initial} in {png}" in capsys.readouterr().out


def test_cli_takes_the_kernel_of_a_checkpoint(tmp_path, capsys):
    """A checkpoint holds the weights in its backend's names (PyTorch's here): the kernel is
    taken from them, and a line says so."""
    kernel = synthetic_kernel(count=96, side=11)
    shapes, _ = canonical_shapes(67, 10)
    tensors = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    tensors["conv1.weight"] = kernel
    checkpoint = tmp_path / "checkpoint-4.ckpt"
    write_checkpoint(checkpoint, {"backend": "pytorch", "architecture": "alexnet-d2l",
                                  "resize": 67, "num_classes": 10, "in_channels": 1, "step": 4},
                     {f"params.net.{3 * (index // 2)}.{name.rsplit('.', 1)[1]}": array
                      for index, (name, array) in enumerate(tensors.items())})
    kept = tmp_path / "conv1.safetensors"
    assert filters_cli.main(["--weights", str(checkpoint), "--save-kernel", str(kept)]) == 0
    tensors, metadata = load_safetensors(kept)
    assert np.array_equal(tensors["conv1.weight"], kernel)
    assert metadata["kept_from"] == "checkpoint-4.ckpt" and metadata["resize"] == "67"
    assert f"{checkpoint} is a checkpoint: took the model weights" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "no-conv1", "bad-shape", "nan", "bad-suffix",
                                  "no-folder", "nothing-to-do", "minus-other-shape",
                                  "minus-missing"])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    weights = tmp_path / "weights.safetensors"
    nan = synthetic_kernel()
    nan[2, 0, 1, 1] = np.nan  # a diverged run's: it would draw as blank tiles
    tensors = {"no-conv1": {"dense1.weight": np.ones((2, 2))},
               "bad-shape": {"conv1.weight": np.ones((96, 2, 11, 11))},
               "nan": {"conv1.weight": nan}}.get(
        case, {"conv1.weight": synthetic_kernel()})
    if case != "missing":
        save_safetensors(weights, tensors)
    out = {"bad-suffix": tmp_path / "filters.jpg",
           "no-folder": tmp_path / "absent" / "filters.png"}.get(case, tmp_path / "filters.png")
    args = ["--weights", str(weights)] + ([] if case == "nothing-to-do" else ["--out", str(out)])
    if case.startswith("minus"):
        start = tmp_path / "start.safetensors"
        if case == "minus-other-shape":
            save_safetensors(start, {"conv1.weight": synthetic_kernel(side=5)})
        args += ["--minus", str(start), "--save-kernel", str(tmp_path / "kept.safetensors")]
    before = sorted(tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.filters", *args],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_refuses_an_unwritable_folder_before_writing_either_file(tmp_path, tmpfs):
    read_only = tmpfs("read-only", "ro,size=1m")
    weights = tmp_path / "weights.safetensors"
    save_safetensors(weights, {"conv1.weight": synthetic_kernel()})
    kept, png = tmp_path / "conv1.safetensors", read_only / "filters.png"
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.filters", "--weights",
                             str(weights), "--save-kernel", str(kept), "--out", str(png)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"error: cannot write to --out {png} (Read-only file system): "
                             "choose a writable place\n")
    assert not kept.exists()  # the kernel is not kept when the figure cannot be drawn


@pytest.mark.parametrize("fault, status, line", [
    (OSError(errno.ENOSPC, "No space left on device"), 1,
     "error: cannot write {png} (the disk is full): free some space and run it again; nothing "
     "was written\n"),
    (KeyboardInterrupt(), 130, "\ninterrupted\n")])
def test_cli_a_figure_that_fails_or_is_interrupted_leaves_no_kept_kernel(
        tmp_path, monkeypatch, capsys, fault, status, line):
    weights = tmp_path / "weights.safetensors"
    save_safetensors(weights, {"conv1.weight": synthetic_kernel()})
    kept, png = tmp_path / "conv1.safetensors", tmp_path / "filters.png"

    def failing_png(*args):
        raise fault

    monkeypatch.setattr(filters_cli, "save_filters_png", failing_png)
    assert filters_cli.main(["--weights", str(weights), "--save-kernel", str(kept),
                             "--out", str(png)]) == status
    assert capsys.readouterr().err == line.format(png=png)
    assert sorted(os.listdir(tmp_path)) == ["weights.safetensors"]
    # A kernel kept there before is put back as it was, not removed with this run's.
    kept.write_bytes(b"an earlier kernel")
    assert filters_cli.main(["--weights", str(weights), "--save-kernel", str(kept),
                             "--out", str(png)]) == status
    assert kept.read_bytes() == b"an earlier kernel" and not png.exists()


def test_cli_an_out_inside_a_file_is_named_a_file(tmp_path, capsys):
    weights, blocker = tmp_path / "weights.safetensors", tmp_path / "afile"
    save_safetensors(weights, {"conv1.weight": synthetic_kernel()})
    blocker.write_text("not a folder")
    assert filters_cli.main(["--weights", str(weights), "--out", str(blocker / "f.png")]) == 2
    assert capsys.readouterr().err == (f"error: --out {blocker / 'f.png'}: {blocker} is a file, "
                                       "not a folder; name a file in a folder\n")
