"""Your own images from the command line, the same in every backend: ``train --image-folder``
(fine-tuning a Fashion-MNIST file onto the folder's classes), ``evaluate --image-folder`` and
``predict``. One training run, in this process, serves every test; the refusals that need no
framework are tested once, in tests/core/test_cli.py."""

import argparse
import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from d2l_alexnet import evaluate, predict, train
from d2l_alexnet.core.images import folder_images, read_image
from d2l_alexnet.core.weights import (canonical_shapes, load_safetensors, save_canonical,
                                      saved_metadata)

CLASSES = ["blue", "green", "red"]  # sorted, as ImageFolder orders the subfolders
BRIGHT_CHANNEL = {"red": 0, "green": 1, "blue": 2}
RUN = ("--resize", "67", "--batch-size", "4", "--epochs", "1", "--seed", "0")


def draw_folder(root, per_class=6, side=24):
    """``root/<colour>/<i>.png``: 24×24 RGB noise whose named channel is bright."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 90, size=(side, side, 3))
            pixels[..., BRIGHT_CHANNEL[name]] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{index}.png")
    return root


def fashion_mnist_file(path):
    """What a Fashion-MNIST run at --resize 67 writes (10 greyscale classes), of random weights
    (written without a framework: building a model to save would cost seconds in JAX)."""
    rng = np.random.default_rng(0)
    shapes, _ = canonical_shapes(67, 10, 1)
    save_canonical(path, {name: rng.normal(0, 0.01, shape).astype(np.float32)
                          for name, shape in shapes.items()}, 67, 10, "test", 1)
    return path


def run_command(main, argv):
    """``main(argv)`` in this process: ``(exit status, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def run(d2l, backend_name, tmp_path_factory):
    """A Fashion-MNIST weights file (greyscale, 10 classes), fine-tuned with --new-head onto
    the folder's three RGB classes for one epoch at a learning rate too small to move a
    weight: so every loaded layer can be checked against the file it came from."""
    tmp = tmp_path_factory.mktemp("image_cli")
    folder = draw_folder(tmp / "pictures")
    fashion = fashion_mnist_file(tmp / "fashion.safetensors")
    out = tmp / "out"
    status, output, errors = run_command(train.main, [
        "--backend", backend_name, "--image-folder", str(folder), *RUN, "--lr", "1e-12",
        "--init-from", str(fashion), "--new-head", "--out", str(out)])
    assert status == 0, output[-3000:] + errors[-3000:]
    return {"folder": folder, "fashion": fashion, "weights": out / "weights.safetensors",
            "out": out, "output": output}


def test_train_on_a_folder_records_its_classes_and_fine_tunes_a_fashion_mnist_file(run):
    assert saved_metadata(run["weights"]) == {"resize": 67, "num_classes": 3, "in_channels": 3,
                                              "classes": CLASSES}
    assert "15 training and 3 validation images" in run["output"]  # the seeded 20% split
    assert "all but the last layer, which starts fresh" in run["output"]
    records = json.loads((run["out"] / "metrics.json").read_text())
    assert [record["epoch"] for record in records] == [1]
    fashion, _ = load_safetensors(run["fashion"])
    tuned, _ = load_safetensors(run["weights"])
    # The greyscale kernel, repeated over the three channels and divided by three.
    np.testing.assert_allclose(tuned["conv1.weight"],
                               np.repeat(fashion["conv1.weight"], 3, axis=1) / 3, atol=1e-6)
    np.testing.assert_allclose(tuned["dense2.weight"], fashion["dense2.weight"], atol=1e-6)
    assert tuned["dense3.weight"].shape == (3, 4096)  # a new head for the folder's classes


def model_of(d2l, weights):
    return d2l.AlexNet(num_classes=3, resize=67, in_channels=3).load_weights(weights, log=None)


def test_evaluate_measures_every_image_of_the_folder(d2l, backend_name, run):
    status, output, errors = run_command(evaluate.main, [
        "--backend", backend_name, "--image-folder", str(run["folder"]),
        "--weights", str(run["weights"]), "--batch-size", "4"])
    assert status == 0, errors[-3000:]
    assert "on 18 images of" in output
    images, labels, classes, _ = folder_images(run["folder"], "rgb", 67, log=None)
    accuracy = float(np.mean(model_of(d2l, run["weights"]).predict(images) == labels))
    assert f"val_acc {accuracy:.4f}" in output


def test_evaluate_measures_a_test_folder_of_some_of_the_classes_by_name(d2l, backend_name,
                                                                         run, tmp_path):
    folder = tmp_path / "test"
    # No images of green, and no blue folder: red is the folder's label 1, the file's label 2.
    (folder / "green").mkdir(parents=True)
    (folder / "red").mkdir()
    for index in range(3):
        (folder / "red" / f"{index}.png").write_bytes(
            (run["folder"] / "red" / f"{index}.png").read_bytes())
    status, output, errors = run_command(evaluate.main, [
        "--backend", backend_name, "--image-folder", str(folder),
        "--weights", str(run["weights"]), "--batch-size", "4"])
    assert status == 0, errors[-3000:]
    images = np.stack([read_image(folder / "red" / f"{index}.png", "rgb", 67)
                       for index in range(3)])
    predictions = model_of(d2l, run["weights"]).predict(images)
    accuracy = float(np.mean(predictions == CLASSES.index("red")))
    assert "on 3 images of" in output and f"val_acc {accuracy:.4f}" in output
    measured = evaluate.folder_data(d2l, argparse.Namespace(
        image_folder=folder, in_channels=3, resize=67, skip_unreadable=False, batch_size=4,
        model_classes=CLASSES))
    assert measured.classes == CLASSES and set(measured.val_labels) == {CLASSES.index("red")}


def test_predict_prints_each_files_classes_as_imagefolder_reads_it(d2l, backend_name, run):
    paths = [run["folder"] / "red" / "0.png", run["folder"] / "blue" / "5.png"]
    status, output, errors = run_command(predict.main, [
        "--backend", backend_name, "--weights", str(run["weights"]), "--top-k", "3",
        *map(str, paths)])
    assert status == 0, errors[-3000:]
    lines = [line.split("\t") for line in output.splitlines()]
    assert [line[0] for line in lines] == [str(path) for path in paths for _ in range(3)]
    expected = model_of(d2l, run["weights"]).probabilities(
        np.stack([read_image(path, "rgb", 67) for path in paths]))
    for image, rows in enumerate((lines[:3], lines[3:])):
        assert sorted(name for _, name, _ in rows) == CLASSES
        printed = [float(probability) for _, _, probability in rows]
        assert printed == sorted(printed, reverse=True)
        for _, name, probability in rows:
            assert float(probability) == pytest.approx(
                expected[image][CLASSES.index(name)], abs=1e-4)


def test_an_unreadable_image_in_the_folder_is_refused_in_one_line(backend_name, run, tmp_path):
    folder = tmp_path / "pictures"
    for name in CLASSES:
        (folder / name).mkdir(parents=True)
        for index in range(2):
            (folder / name / f"{index}.png").write_bytes(
                (run["folder"] / name / f"{index}.png").read_bytes())
    (folder / "red" / "notes.png").write_text("not an image")
    status, output, errors = run_command(train.main, [
        "--backend", backend_name, "--image-folder", str(folder), *RUN,
        "--out", str(tmp_path / "out")])
    assert status == 2
    assert errors.startswith("error: ") and len(errors.strip().splitlines()) == 1, errors
    assert "red/notes.png" in errors and "--skip-unreadable" in errors
    assert "skip_unreadable=True" not in errors
    assert not (tmp_path / "out").exists()


def test_evaluate_finds_a_macos_folders_decomposed_class_names_in_the_file(d2l, run, tmp_path):
    folder = tmp_path / "accents"
    for name in ("cafe\u0301", "the\u0301"):  # NFD, as macOS names folders
        (folder / name).mkdir(parents=True)
        (folder / name / "0.png").write_bytes((run["folder"] / "red" / "0.png").read_bytes())
    measured = evaluate.folder_data(d2l, argparse.Namespace(
        image_folder=folder, in_channels=3, resize=67, skip_unreadable=False, batch_size=4,
        model_classes=["tea", "th\u00e9", "caf\u00e9"]))
    assert sorted(measured.val_labels.tolist()) == [1, 2]


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_stdout_that_cannot_be_written_ends_in_one_line_or_quietly(backend_name, run, command):
    """``| head -1`` that has its line: a quiet 141; ``> /dev/full``: one line, 1 (cli.py)."""
    argv = [sys.executable, "-m", f"d2l_alexnet.{command}", "--backend", backend_name,
            "--weights", str(run["weights"])]
    argv += ([str(run["folder"] / "red" / "0.png")] if command == "predict"
             else ["--image-folder", str(run["folder"])])
    reader = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # as `| head -1` does once it has its line
    assert reader.wait(timeout=300) == 141
    assert reader.stderr.read() == b""
    with open("/dev/full", "w") as full:
        result = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=300)
    assert (result.returncode, result.stderr) == (
        1, "error: cannot write to stdout (the disk is full)\n")


def test_augment_on_an_rgb_folder_announces_the_colour_changes_too(backend_name, run, tmp_path):
    status, output, errors = run_command(train.main, [
        "--backend", backend_name, "--image-folder", str(run["folder"]), *RUN, "--augment",
        "--out", str(tmp_path / "out")])
    assert status == 0, errors[-3000:]
    assert ("training images flipped, cropped and varied in brightness, contrast and "
            "saturation at random (--augment)") in output
