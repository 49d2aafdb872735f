import pytest

from d2l_alexnet.core import architecture
from d2l_alexnet.core.architecture import (ALEXNET, layer_table, minimum_resize, parameter_count,
                                           training_flops)


def test_chapter_shapes_at_224():
    shapes = [row.output_shape for row in layer_table(224) if row.layer.kind != "relu"]
    assert shapes == [
        (96, 54, 54), (96, 26, 26), (256, 26, 26), (256, 12, 12), (384, 12, 12), (384, 12, 12),
        (256, 12, 12), (256, 5, 5), (6400,), (4096,), (4096,), (4096,), (4096,), (10,)]


def test_parameter_count_per_layer_and_total():
    per_layer = [row.parameters for row in layer_table() if row.parameters]
    assert per_layer == [11_712, 614_656, 885_120, 1_327_488, 884_992, 26_218_496, 16_781_312,
                         40_970]
    assert parameter_count() == 46_764_746
    assert parameter_count(num_classes=1000) == 46_764_746 - 40_970 + 4097 * 1000


def test_training_flops_per_image():
    # 5.63 GFLOP per 224×224 training image: the figure the benchmark divides by.
    assert training_flops() == 3 * 1_876_292_352
    assert round(training_flops() / 1e9, 2) == 5.63


def test_first_convolution_padding_choice():
    first = ALEXNET[0]
    assert (first.kind, first.units, first.kernel, first.stride, first.padding) == (
        "conv", 96, 11, 4, 0)
    assert "padding" in architecture.__doc__  # the choice and its reason are written down


def test_minimum_resize_is_the_smallest_that_works():
    assert minimum_resize() == 67
    assert layer_table(67)[-9].output_shape == (256, 1, 1)
    with pytest.raises(ValueError, match="at least 67"):
        layer_table(66)


def test_flatten_follows_the_input_size():
    flatten = [row for row in layer_table(131) if row.layer.kind == "flatten"][0]
    assert flatten.output_shape == (256 * 3 * 3,)


def test_with_dropout_changes_only_the_dropout_rates():
    from d2l_alexnet.core.architecture import with_dropout

    assert with_dropout(None) is ALEXNET
    off = with_dropout(0.0)
    assert [layer.rate for layer in off if layer.kind == "dropout"] == [0.0, 0.0]
    assert [layer for layer in off if layer.kind != "dropout"] == [
        layer for layer in ALEXNET if layer.kind != "dropout"]
    assert [layer.rate for layer in ALEXNET if layer.kind == "dropout"] == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        with_dropout(1.0)


def test_the_table_takes_lenets_rows_as_they_are():
    """Exercise 7 compares LeNet with AlexNet: sigmoid and average-pool rows are table rows."""
    from d2l_alexnet.core.notebook import LENET

    rows = layer_table(28, layers=LENET)
    assert [row.layer.kind for row in rows][:3] == ["conv", "sigmoid", "avgpool"]
    assert rows[2].output_shape == (6, 14, 14) and rows[6].output_shape == (400,)
    assert sum(row.parameters for row in rows) == 61_706
    assert minimum_resize(LENET) == 12
    with pytest.raises(ValueError, match="unknown layer kind 'tanh': choose one of conv"):
        layer_table(28, layers=(architecture.Layer("tanh"),))


SLIM = (architecture.Layer("conv", 8, kernel=3, padding=1), architecture.Layer("relu"),
        architecture.Layer("maxpool", kernel=2, stride=2))


@pytest.mark.parametrize("rows, row, problem", [
    # The likeliest slip of exercise 5: without it, some frameworks classified every pixel.
    ((*SLIM, architecture.Layer("dense", None)), 4, 'put Layer\\("flatten"\\) before the first'),
    ((*SLIM, architecture.Layer("flatten"), architecture.Layer("conv", 4, kernel=1)),
     5, "put the windowed rows before"),
    ((architecture.Layer("maxpool", stride=2), architecture.Layer("flatten"),
      architecture.Layer("dense", None)), 1, "kernel >= 1"),
    ((architecture.Layer("conv", kernel=3), architecture.Layer("flatten"),
      architecture.Layer("dense", None)), 1, "name its output channels"),
    ((architecture.Layer("conv", 4, kernel=3, stride=0),), 1, "stride >= 1"),
    ((architecture.Layer("avgpool", kernel=2, padding=2),), 1, "at most half its kernel"),
    ((*SLIM, architecture.Layer("flatten"), architecture.Layer("dropout", rate=1.0),
      architecture.Layer("dense", None)), 5, r"in \[0, 1\), got 1.0"),
    ((*SLIM, architecture.Layer("flatten"), architecture.Layer("dense", 0)), 5,
     "units >= 1"),
    # Keras took padding=1.0 and units=True (a 1-channel conv); the others refused in their way.
    ((architecture.Layer("conv", 4, kernel=3, padding=1.0),), 1, "padding=1.0: give whole"),
    ((architecture.Layer("conv", True, kernel=3),), 1, "units=True: give whole numbers"),
    ((architecture.Layer("maxpool", kernel=2, stride=2.5),), 1, "stride=2.5: give whole"),
])
def test_a_row_that_cannot_be_built_is_named_with_its_fix(rows, row, problem):
    with pytest.raises(ValueError, match=f"row {row} of the table, Layer.*{problem}"):
        layer_table(28, layers=rows)


def test_numpy_integers_are_whole_numbers_of_a_row():
    """A size computed with numpy (np.int64) was refused as "name its output channels"."""
    import numpy as np

    layer = architecture.Layer("conv", np.int64(4), kernel=np.int64(3))
    assert (layer.units, layer.kernel) == (4, 3) and type(layer.units) is int
    rows = (layer, architecture.Layer("flatten"), architecture.Layer("dense", np.int32(8)),
            architecture.Layer("dense", None))
    assert [row.output_shape for row in layer_table(10, layers=rows)][-2:] == [(8,), (10,)]


def test_a_table_that_ends_after_its_scores_is_refused():
    """A sigmoid after the last dense row: some backends took the scores for the features."""
    rows = (*SLIM, architecture.Layer("flatten"), architecture.Layer("dense", None),
            architecture.Layer("sigmoid"))
    with pytest.raises(ValueError, match=r"the table ends in sigmoid, .*end it with "
                                         r'Layer\("dense"\)'):
        layer_table(28, layers=rows)


@pytest.mark.parametrize("rows, output", [
    (SLIM, r"\(8, 14, 14\)"),
    ((*SLIM, architecture.Layer("flatten"), architecture.Layer("dense", 32)), r"\(32,\)"),
    ((), r"\(1, 28, 28\)"),
])
def test_a_table_must_end_in_one_score_per_class(rows, output):
    with pytest.raises(ValueError, match=f"output is {output}, not the 10 classes' scores"):
        layer_table(28, layers=rows)


def test_minimum_resize_keeps_a_pixel_at_every_layers_input():
    """Padding more than half a kernel lets a layer's output outgrow its input: working back
    from the output alone asked for 3 pixels here (the first conv then had none) or for -1."""
    head = (architecture.Layer("flatten"), architecture.Layer("dense", None))
    rows = (architecture.Layer("conv", 4, kernel=5), architecture.Layer("conv", 4, kernel=3,
                                                                         padding=2), *head)
    assert minimum_resize(rows) == 5
    layer_table(5, layers=rows)
    with pytest.raises(ValueError, match="use a resize of at least 5"):
        layer_table(4, layers=rows)
    assert minimum_resize((architecture.Layer("conv", 4, kernel=1, padding=1), *head)) == 1


def test_a_dropout_rate_for_a_table_without_dropout_is_refused():
    """AlexNet(layers=..., dropout=0.5) on LeNet's rows set nothing, without a word."""
    from d2l_alexnet.core.architecture import with_dropout
    from d2l_alexnet.core.notebook import LENET

    with pytest.raises(ValueError, match=r"no dropout rows for dropout=0.5 to set: add "
                                         r"Layer\(\"dropout\", rate=0.5\) rows"):
        with_dropout(0.5, LENET)
    assert with_dropout(0, LENET) == LENET and with_dropout(None, LENET) == LENET
