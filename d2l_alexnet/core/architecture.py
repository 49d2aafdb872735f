"""The chapter's AlexNet, written once (d2l, sec_alexnet; Krizhevsky, Sutskever & Hinton, 2012).

Every backend builds its network from :data:`ALEXNET`, and the tests check every backend's layer
shapes and parameter counts against :func:`layer_table`. The cost report (``cost.py``) reads the
same table, so the chapter's first exercise is answered from the network that actually trains.

Choice of the first convolution's padding: the book pads it by 1 in PyTorch and JAX and by 0 in
TensorFlow and MXNet. Both give a 54×54 map from 224×224 (floor(215/4)+1 = floor(213/4)+1 = 54).
We use 0 everywhere: every framework expresses it natively (Keras has no symmetric explicit
padding without an extra ZeroPadding2D layer, which would change the printed summary), and the
windows then cover pixels 0..222 instead of -1..221, so fewer real pixels are left unseen.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional, Tuple, cast

from .types import Size, is_number, is_whole

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class Layer:
    """One row of the architecture table.

    ``kind`` is one of ``conv``, ``relu``, ``sigmoid``, ``maxpool``, ``avgpool``, ``flatten``,
    ``dense``, ``dropout`` (sigmoid and average pooling for LeNet, sec_lenet, and the exercises).
    ``units`` is the output channels of a convolution or the outputs of a dense layer; ``None``
    for the last dense layer means "the number of classes".
    """

    kind: str
    units: Optional[int] = None
    kernel: int = 0
    stride: int = 1
    padding: int = 0
    rate: float = 0.0

    def __post_init__(self) -> None:
        # numpy's integers (a size computed with numpy) as Python's, which every framework
        # takes; anything else that is not a whole number is refused by row_problem.
        for name in ("units", "kernel", "stride", "padding"):
            value = getattr(self, name)
            if is_whole(value) and not isinstance(value, int):
                object.__setattr__(self, name, int(value))


ALEXNET: Tuple[Layer, ...] = (
    Layer("conv", 96, kernel=11, stride=4, padding=0),
    Layer("relu"),
    Layer("maxpool", kernel=3, stride=2),
    Layer("conv", 256, kernel=5, padding=2),
    Layer("relu"),
    Layer("maxpool", kernel=3, stride=2),
    Layer("conv", 384, kernel=3, padding=1),
    Layer("relu"),
    Layer("conv", 384, kernel=3, padding=1),
    Layer("relu"),
    Layer("conv", 256, kernel=3, padding=1),
    Layer("relu"),
    Layer("maxpool", kernel=3, stride=2),
    Layer("flatten"),
    Layer("dense", 4096),
    Layer("relu"),
    Layer("dropout", rate=0.5),
    Layer("dense", 4096),
    Layer("relu"),
    Layer("dropout", rate=0.5),
    Layer("dense", None),
)

WINDOWED = ("conv", "maxpool", "avgpool")  # kinds that slide a window over the map
ELEMENTWISE = ("relu", "sigmoid", "dropout")  # kinds that keep the shape
KINDS = (*WINDOWED, *ELEMENTWISE, "flatten", "dense")

CHAPTER_RESIZE = 224
IN_CHANNELS = 1  # Fashion-MNIST is greyscale


def as_size(resize: Size) -> tuple[int, int]:
    """``224`` or ``(224, 224)`` -> ``(224, 224)``: an input's ``(height, width)``. Refuses
    anything else with a one-line ``ValueError``."""
    if isinstance(resize, bool):
        raise ValueError(f"resize must be an int or a (height, width) pair, got {resize!r}")
    if isinstance(resize, numbers.Integral):
        return int(resize), int(resize)
    try:
        height, width = resize  # type: ignore[misc]  # an int returned above
        if not all(is_whole(side) for side in (height, width)):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"resize must be an int or a (height, width) pair of ints, got "
                         f"{resize!r}") from None
    return int(height), int(width)


def format_size(resize: Size) -> str:
    """``224`` -> ``"224×224"``, ``(96, 128)`` -> ``"96×128"``."""
    height, width = as_size(resize)
    return f"{height}×{width}"


def check_in_channels(in_channels: int) -> int:
    """Refuse a channel count that is not a positive int."""
    if not is_whole(in_channels) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int (1 for greyscale, 3 for RGB), "
                         f"got {in_channels!r}")
    return int(in_channels)


def check_num_classes(num_classes: int, owner: str = "AlexNet") -> int:
    """Refuse fewer than two classes: one class is a question with one answer, learnt perfectly
    and meaning nothing."""
    if not is_whole(num_classes):  # (True too: it would pass as 1 below, or build one class)
        raise ValueError(f"{owner}: num_classes must be a whole number of at least 2, got "
                         f"{num_classes!r}; pass e.g. num_classes=10")
    if num_classes < 2:
        raise ValueError(f"{owner} has num_classes={num_classes}, but a classifier needs at "
                         f"least 2 classes: build it with the number of classes in the data")
    return num_classes


@dataclass(frozen=True)
class LayerInfo:
    """A layer with what it produces and costs for one image.

    ``output_shape`` is channels-first, without the batch axis: ``(C, H, W)`` or ``(features,)``.
    ``forward_flops`` counts a multiply-add as 2 FLOPs (convolutions and dense layers only; the
    elementwise layers are negligible and counted as 0).
    """

    layer: Layer
    output_shape: Tuple[int, ...]
    parameters: int
    forward_flops: int

    @property
    def activation_elements(self) -> int:
        count = 1
        for size in self.output_shape:
            count *= size
        return count


def _window_output(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def layer_table(resize: Size = CHAPTER_RESIZE, num_classes: int = 10,
                in_channels: int = IN_CHANNELS, layers: Sequence[Layer] = ALEXNET,
                ) -> list[LayerInfo]:
    """Return a :class:`LayerInfo` per layer for an ``in_channels``×height×width input, where
    ``resize`` is the side of a square input or its ``(height, width)``.

    Raises ``ValueError`` with the smallest workable size when an image is too small for the
    network (every feature map must keep at least one pixel).
    """
    shape: tuple[int, ...] = (check_in_channels(in_channels), *as_size(resize))
    check_num_classes(num_classes)
    rows = []
    for number, layer in enumerate(check_layers(layers), 1):
        problem = row_problem(layer, shape)
        if problem is not None:
            raise ValueError(f"row {number} of the table, {layer}: {problem}")
        parameters = flops = 0
        if layer.kind in WINDOWED:
            channels, height, width = shape
            out_h = _window_output(height, layer.kernel, layer.stride, layer.padding)
            out_w = _window_output(width, layer.kernel, layer.stride, layer.padding)
            if out_h < 1 or out_w < 1:
                chapter = f" (the chapter uses {CHAPTER_RESIZE})" if layers == ALEXNET else ""
                raise ValueError(
                    f"images of {format_size(resize)} are too small for this network: use a "
                    f"resize of at least {minimum_resize(layers)}{chapter}")
            if layer.kind == "conv":
                out_channels = cast(int, layer.units)  # a convolution's row always names them
                weights = out_channels * channels * layer.kernel ** 2
                parameters = weights + out_channels
                flops = 2 * weights * out_h * out_w
                shape = (out_channels, out_h, out_w)
            else:
                shape = (channels, out_h, out_w)
        elif layer.kind == "flatten":
            features = 1
            for size in shape:
                features *= size
            shape = (features,)
        elif layer.kind == "dense":
            units = num_classes if layer.units is None else layer.units
            weights = shape[0] * units
            parameters = weights + units
            flops = 2 * weights
            shape = (units,)
        rows.append(LayerInfo(layer, shape, parameters, flops))
    if shape != (num_classes,) or rows[-1].layer.kind != "dense":
        # (An activation after the scores would be taken for the features by some backends.)
        raise ValueError(f"the table ends in {'nothing' if not rows else rows[-1].layer.kind}, "
                         f"whose output is {shape}, not the {num_classes} classes' scores: end "
                         f"it with Layer(\"dense\") (units None: one per class)")
    return rows


def row_problem(layer: Layer, shape: tuple[int, ...]) -> str | None:
    """What is wrong with ``layer`` as a row that takes ``shape`` (channels-first, no batch
    axis), said so that its fix is plain; ``None`` when it can be built. Each framework would
    refuse these rows in words of its own, if at all: a dense row on a feature map went through
    in some, and classified every pixel."""
    if layer.kind not in KINDS:
        return f"unknown layer kind {layer.kind!r}: choose one of {', '.join(KINDS)}"
    sizes = {"kernel": layer.kernel, "stride": layer.stride, "padding": layer.padding}
    if layer.units is not None:
        sizes["units"] = layer.units
    fractional = [f"{name}={value!r}" for name, value in sizes.items() if not is_whole(value)]
    if fractional:  # a frameworks took some (padding=1.0 in Keras), refused others its own way
        return f"{', '.join(fractional)}: give whole numbers"
    if layer.kind in WINDOWED:
        if len(shape) != 3:
            return (f"a {layer.kind} slides over a feature map, and it comes after the "
                    "flatten row: put the windowed rows before Layer(\"flatten\")")
        if layer.kernel < 1 or layer.stride < 1 or layer.padding < 0:
            return "give it kernel >= 1, stride >= 1 and padding >= 0"
        if layer.kind != "conv" and 2 * layer.padding > layer.kernel:
            return "a pooling window may be padded by at most half its kernel"
    if layer.kind == "conv" and not (layer.units is not None and layer.units >= 1):
        return "name its output channels, e.g. Layer(\"conv\", 64, kernel=3)"
    if layer.kind == "dense":
        if len(shape) != 1:
            return (f"a dense row takes features, and it gets a {len(shape)}-axis feature "
                    "map: put Layer(\"flatten\") before the first dense row")
        if layer.units is not None and layer.units < 1:
            return "give it units >= 1 (None: one per class)"
    if layer.kind == "dropout" and not 0.0 <= layer.rate < 1.0:
        return f"a dropout rate must be in [0, 1), got {layer.rate}"
    return None


def minimum_resize(layers: Sequence[Layer] = ALEXNET) -> int:
    """The smallest square input on which every feature map keeps at least one pixel."""
    size = 1
    for layer in reversed(layers):
        if layer.kind in WINDOWED:  # each layer's input needs a pixel too, padded or not
            size = max(1, (size - 1) * layer.stride + layer.kernel - 2 * layer.padding)
    return size


def parameter_count(resize: Size = CHAPTER_RESIZE, num_classes: int = 10,
                    in_channels: int = IN_CHANNELS, layers: Sequence[Layer] = ALEXNET) -> int:
    """Total trainable parameters: 46,764,746 for the chapter's 224×224 input and 10 classes
    (``layers``: another table, such as LeNet's or the exercises')."""
    return sum(row.parameters
               for row in layer_table(resize, num_classes, in_channels, layers=layers))


def forward_flops(resize: Size = CHAPTER_RESIZE, num_classes: int = 10,
                  in_channels: int = IN_CHANNELS, layers: Sequence[Layer] = ALEXNET) -> int:
    """Forward-pass FLOPs for one image of the table ``layers``."""
    return sum(row.forward_flops
               for row in layer_table(resize, num_classes, in_channels, layers=layers))


def training_flops(resize: Size = CHAPTER_RESIZE, num_classes: int = 10,
                   in_channels: int = IN_CHANNELS, layers: Sequence[Layer] = ALEXNET) -> int:
    """FLOPs of one training step per image: forward plus a backward pass about twice as costly
    (gradients with respect to both inputs and weights): 5.63 GFLOP at 224×224."""
    return 3 * forward_flops(resize, num_classes, in_channels, layers=layers)


def weight_layers(layers: Sequence[Layer] = ALEXNET) -> list[Layer]:
    """The layers that hold parameters, in order (five convolutions, three dense layers)."""
    return [layer for layer in layers if layer.kind in ("conv", "dense")]


def with_dropout(rate: float | None, layers: Sequence[Layer] = ALEXNET) -> Sequence[Layer]:
    """The table with every dropout layer's rate set to ``rate`` (``None``: as it is). A rate of
    0 turns dropout off: the cross-backend parity test compares one SGD step that way."""
    if rate is None:
        return check_layers(layers)
    if not is_number(rate):
        raise ValueError(f"dropout must be None (the table's rates) or a number in [0, 1), "
                         f"got {rate!r}; pass e.g. dropout=0.5")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"a dropout rate must be in [0, 1), got {rate}")
    layers = check_layers(layers)
    if rate and not any(layer.kind == "dropout" for layer in layers):  # it would set nothing
        raise ValueError(f"this table has no dropout rows for dropout={rate} to set: add "
                         f"Layer(\"dropout\", rate={rate}) rows where it should act (AlexNet "
                         f"has one after each hidden dense layer)")
    return tuple(replace(layer, rate=rate) if layer.kind == "dropout" else layer
                 for layer in layers)


def check_layers(layers: Any) -> Sequence[Layer]:
    """``layers`` if it is a table of :class:`Layer` rows; else a one-line ``ValueError``
    (``layers="alexnet"`` was taken as seven rows, and failed on the first's missing kind)."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not all(
            isinstance(layer, Layer) for layer in layers):
        raise ValueError(f"layers must be None (the chapter's AlexNet) or a sequence of "
                         f"Layer rows, got {layers!r}; pass e.g. layers=[Layer(\"conv\", 96, "
                         f"kernel=11, stride=4), ...] (see core/architecture.py)")
    return layers


def row_label(layer: Layer) -> str:
    """A row in a few characters, as a checkpoint records its network: ``conv96/11s4p0``,
    ``maxpool3s2``, ``dense4096``, ``dense`` (one per class), ``dropout0.5``, ``relu``."""
    if layer.kind == "conv":
        return f"conv{layer.units}/{layer.kernel}s{layer.stride}p{layer.padding}"
    if layer.kind in WINDOWED:
        return f"{layer.kind}{layer.kernel}s{layer.stride}p{layer.padding}"
    if layer.kind == "dense":
        return f"dense{'' if layer.units is None else layer.units}"
    if layer.kind == "dropout":
        return f"dropout{layer.rate:g}"
    return layer.kind
