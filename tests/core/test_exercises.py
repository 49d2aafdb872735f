"""The exercise tables (exercises 5 and 7), their costs and the script that trains them: no
framework needed."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from d2l_alexnet.core.architecture import (ALEXNET, Layer, forward_flops, layer_table,
                                           minimum_resize, parameter_count, training_flops)
from d2l_alexnet.core.exercises import (EXERCISE_RESIZE, LENET_RELU_DROPOUT, RECIPES, SLIM_28,
                                        with_relu_and_dropout)
from d2l_alexnet.core.notebook import LENET
from repository import REPO

SCRIPT = os.path.join(REPO, "benchmarks", "exercise_models.py")
RESULTS = os.path.join(REPO, "results", "slim-28")


def shapes(layers):
    return [row.output_shape for row in layer_table(EXERCISE_RESIZE, layers=layers)
            if row.layer.kind not in ("relu", "sigmoid", "dropout")]


# ---- exercise 7: LeNet-5 with ReLU and dropout ---------------------------------------------

def test_lenet_relu_dropout_has_no_sigmoid_and_dropout_after_every_hidden_dense():
    kinds = [layer.kind for layer in LENET_RELU_DROPOUT]
    assert "sigmoid" not in kinds
    hidden = [index for index, layer in enumerate(LENET_RELU_DROPOUT)
              if layer.kind == "dense" and layer.units is not None]
    assert [LENET_RELU_DROPOUT[index].units for index in hidden] == [120, 84]
    for index in hidden:
        assert kinds[index + 1:index + 3] == ["relu", "dropout"], kinds
        assert LENET_RELU_DROPOUT[index + 2].rate == 0.5
    assert kinds.count("dropout") == 2  # none after the convolutions, none on the logits
    assert LENET_RELU_DROPOUT[-1] == Layer("dense", None)


def test_lenet_relu_dropout_differs_from_lenet_only_in_activations_and_dropout():
    back = tuple(Layer("sigmoid") if layer.kind == "relu" else layer
                 for layer in LENET_RELU_DROPOUT if layer.kind != "dropout")
    assert back == LENET
    assert [layer.kind for layer in LENET_RELU_DROPOUT].count("avgpool") == 2  # pooling kept


def test_lenet_relu_dropout_keeps_lenets_shapes_and_parameters():
    assert shapes(LENET_RELU_DROPOUT) == shapes(LENET) == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (400,), (120,), (84,), (10,)]
    assert parameter_count(EXERCISE_RESIZE, layers=LENET_RELU_DROPOUT) == 61_706
    assert forward_flops(EXERCISE_RESIZE, layers=LENET_RELU_DROPOUT) == forward_flops(
        EXERCISE_RESIZE, layers=LENET) == 833_040


def test_with_relu_and_dropout_leaves_other_tables_alone_but_their_dense_activations():
    table = (Layer("conv", 4, kernel=3), Layer("relu"), Layer("flatten"), Layer("dense", 8),
             Layer("sigmoid"), Layer("dense", None))
    assert with_relu_and_dropout(table, rate=0.25) == (
        Layer("conv", 4, kernel=3), Layer("relu"), Layer("flatten"), Layer("dense", 8),
        Layer("relu"), Layer("dropout", rate=0.25), Layer("dense", None))


# ---- exercise 5: an AlexNet-style network for 28×28 -----------------------------------------

def test_slim_28_shapes_and_parameters_at_28():
    assert shapes(SLIM_28) == [(32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 7, 7),
                               (128, 7, 7), (128, 3, 3), (1152,), (256,), (10,)]
    per_layer = [row.parameters for row in layer_table(EXERCISE_RESIZE, layers=SLIM_28)
                 if row.parameters]
    assert per_layer == [320, 18_496, 73_856, 295_168, 2_570]
    assert parameter_count(EXERCISE_RESIZE, layers=SLIM_28) == 390_410
    assert forward_flops(EXERCISE_RESIZE, layers=SLIM_28) == 15_497_216


def test_slim_28_reads_28_by_28_directly_where_alexnet_cannot():
    assert minimum_resize(SLIM_28) <= EXERCISE_RESIZE < minimum_resize(ALEXNET)
    kinds = {layer.kind for layer in SLIM_28}
    assert kinds == {"conv", "relu", "maxpool", "flatten", "dense", "dropout"}  # AlexNet's kinds
    assert all(layer.kernel == 3 for layer in SLIM_28 if layer.kind == "conv")


def test_slim_28_is_far_cheaper_than_the_chapters_alexnet():
    # Over 100× fewer parameters and FLOPs than AlexNet on the chapter's 224×224 inputs.
    assert parameter_count() > 100 * parameter_count(EXERCISE_RESIZE, layers=SLIM_28)
    assert forward_flops() > 100 * forward_flops(EXERCISE_RESIZE, layers=SLIM_28)
    assert training_flops(EXERCISE_RESIZE, layers=SLIM_28) == 3 * 15_497_216


def test_the_cost_functions_default_to_the_chapters_alexnet():
    assert parameter_count(layers=ALEXNET) == parameter_count() == 46_764_746
    assert forward_flops(layers=ALEXNET) == forward_flops() == 1_876_292_352


def test_every_recipe_names_its_table_and_a_positive_rate():
    assert {name: recipe.layers for name, recipe in RECIPES.items()} == {
        "lenet": LENET, "lenet-relu-dropout": LENET_RELU_DROPOUT, "slim-28": SLIM_28}
    assert all(recipe.lr > 0 for recipe in RECIPES.values())


# ---- the script: its refusals, and its table --------------------------------------------------

def run_script(*arguments):
    return subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


@pytest.mark.parametrize("arguments, message", [
    (["--epochs", "0"], "error: --epochs must be at least 1, got 0"),
    (["--models", "vgg"], "error: argument --models: invalid choice: 'vgg'"),
    (["--lr", "0"], "error: --lr must be positive, got 0.0"),
    (["--backend", "caffe"], "error: unknown backend 'caffe': choose one of pytorch"),
])
def test_bad_input_exits_2_in_one_line_and_writes_nothing(tmp_path, arguments, message):
    out = tmp_path / "out"
    completed = run_script(*arguments, "--out", str(out))
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith(message), completed.stderr
    assert completed.stderr.count("\n") == 1 and completed.stdout == ""
    assert not out.exists()


def test_an_out_that_is_a_file_exits_2(tmp_path):
    path = tmp_path / "taken"
    path.write_text("")
    completed = run_script("--out", str(path))
    assert completed.returncode == 2
    assert completed.stderr == f"error: --out {path} is a file: name a directory\n"


def load_script():
    spec = importlib.util.spec_from_file_location("exercise_models", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_printed_table_summarises_each_history():
    history = [{"val_acc": 0.5, "seconds": 10.0, "images_per_sec": 6000.0},
               {"val_acc": 0.75, "seconds": 20.0, "images_per_sec": 3000.0},
               {"val_acc": 0.7, "seconds": 30.0, "images_per_sec": 2000.0}]
    record = {"model": "slim-28", "lr": 0.5, "parameters": 390_410,
              "forward_flops_per_image": 15_497_216, "history": history}
    lines = load_script().format_table([record]).splitlines()
    assert lines[2] == ("| slim-28 | 0.5 | 390,410 | 15.50 | 0.7000 | 0.7500 | 20.0 | "
                        "3,667 |")


# ---- the committed results agree with their own files -------------------------------------------

@pytest.mark.parametrize("name", list(RECIPES))
def test_the_results_readme_quotes_each_models_metrics(name):
    with open(os.path.join(RESULTS, name, "metrics.json")) as handle:
        record = json.load(handle)
    with open(os.path.join(RESULTS, "README.md")) as handle:
        readme = handle.read()
    assert record["model"] == name and record["lr"] == RECIPES[name].lr
    assert len(record["history"]) == record["epochs"] == 10
    assert record["train_images"] == 60_000 and record["val_images"] == 10_000
    assert record["parameters"] == parameter_count(EXERCISE_RESIZE, layers=RECIPES[name].layers)
    row = [line for line in readme.splitlines() if line.startswith(f"| {name} |")]
    assert len(row) == 1, f"README.md has no single table row for {name}"
    assert f"{record['parameters']:,}" in row[0]
    assert f"{record['history'][-1]['val_acc']:.4f}" in row[0]


def test_every_committed_run_is_quoted_in_the_results_readme():
    with open(os.path.join(RESULTS, "README.md")) as handle:
        readme = handle.read()
    runs = [os.path.join(folder, "metrics.json") for folder, _, files in os.walk(RESULTS)
            if "metrics.json" in files]
    assert len(runs) == 3 + 2 * 3 + 12  # main runs, two more seeds, the rest of the sweep
    for path in runs:
        with open(path) as handle:
            final = json.load(handle)["history"][-1]["val_acc"]
        assert f"{final:.4f}" in readme, path
