"""Two of the chapter's exercises as architecture tables (d2l, sec_alexnet, exercises 5 and 7).

- :data:`SLIM_28` answers exercise 5: "AlexNet is likely too complex for Fashion-MNIST: simplify
  it for faster training without significant accuracy loss, and design a better model that works
  directly on 28×28 images." It keeps AlexNet's recipe (convolutions with ReLU, max pooling, a
  dense head with dropout) but reads the 28×28 images as they are: no 8× upsampling to 224, 3×3
  windows throughout, and widths of tens instead of hundreds.
- :data:`LENET_RELU_DROPOUT` answers exercise 7: "Add dropout and ReLU to LeNet-5: does it
  improve?" It is :data:`~d2l_alexnet.core.notebook.LENET` with every sigmoid replaced by a ReLU
  and dropout after each hidden dense layer, and nothing else changed (the pooling stays average),
  so a difference in accuracy is the exercise's change alone.

Both are rows of the same :class:`~d2l_alexnet.core.architecture.Layer` table as the chapter's
AlexNet: every backend's ``AlexNet(layers=..., resize=EXERCISE_RESIZE)`` builds and trains them,
and :func:`~d2l_alexnet.core.architecture.parameter_count` and
:func:`~d2l_alexnet.core.architecture.forward_flops` cost them. ``benchmarks/exercise_models.py``
trains them on Fashion-MNIST and ``results/slim-28/`` holds what it measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .architecture import Layer
from .notebook import LENET, LENET_RESIZE

EXERCISE_RESIZE = LENET_RESIZE  # both tables take Fashion-MNIST's own 28×28 images
DROPOUT_RATE = 0.5  # AlexNet's rate


def with_relu_and_dropout(layers: Iterable[Layer], rate: float = DROPOUT_RATE,
                          ) -> tuple[Layer, ...]:
    """``layers`` with every sigmoid replaced by a ReLU and a dropout row of ``rate`` after the
    activation of each hidden dense layer (as AlexNet places it); the output layer is left
    alone, since dropping logits would only add noise to the loss."""
    rows = []
    previous = None
    for layer in layers:
        rows.append(Layer("relu") if layer.kind == "sigmoid" else layer)
        if previous is not None and previous.kind == "dense" and previous.units is not None \
                and layer.kind in ("sigmoid", "relu"):
            rows.append(Layer("dropout", rate=rate))
        previous = layer
    return tuple(rows)


# Exercise 7: LeNet-5 (sec_lenet) with ReLU and dropout; the 61,706 parameters are unchanged.
LENET_RELU_DROPOUT = with_relu_and_dropout(LENET)

# Exercise 5: AlexNet's ideas at Fashion-MNIST's own size. Three conv-ReLU-maxpool stages halve
# the map 28 -> 14 -> 7 -> 3 while the channels double, as AlexNet's stages trade resolution for
# width; 3×3 windows because an 11×11 window with stride 4 would skip most of a 28×28 image.
SLIM_28 = (
    Layer("conv", 32, kernel=3, padding=1),
    Layer("relu"),
    Layer("maxpool", kernel=2, stride=2),
    Layer("conv", 64, kernel=3, padding=1),
    Layer("relu"),
    Layer("maxpool", kernel=2, stride=2),
    Layer("conv", 128, kernel=3, padding=1),
    Layer("relu"),
    Layer("maxpool", kernel=3, stride=2),  # AlexNet's overlapping 3×3 pool: 7×7 -> 3×3
    Layer("flatten"),
    # One hidden dense layer instead of two of 4,096: AlexNet's dense layers hold 92% of its
    # parameters, and ten classes of small greyscale images do not need them.
    Layer("dense", 256),
    Layer("relu"),
    Layer("dropout", rate=DROPOUT_RATE),
    Layer("dense", None),
)


@dataclass(frozen=True)
class Recipe:
    """How ``benchmarks/exercise_models.py`` trains one table: plain SGD at ``lr``, batch 128,
    28×28. Each ``lr`` gave the best final validation accuracy in a 10-epoch sweep over
    0.1–3.0 (``results/slim-28/README.md``): sigmoid LeNet needs a large step (its gradients
    shrink through every sigmoid), while both ReLU networks diverge at 0.9."""

    layers: tuple
    lr: float
    exercise: str


RECIPES = {
    "lenet": Recipe(LENET, 1.5, "7 (the baseline: LeNet-5 as in sec_lenet)"),
    "lenet-relu-dropout": Recipe(LENET_RELU_DROPOUT, 0.5, "7 (ReLU and dropout added)"),
    "slim-28": Recipe(SLIM_28, 0.5, "5 (an AlexNet-style network for 28×28)"),
}
