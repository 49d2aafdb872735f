"""What the chapter's notebooks display, without a framework (d2l, sec_alexnet; sec_lenet).

- :data:`LENET` describes LeNet-5 as the book builds it (sec_lenet), in the same :class:`Layer`
  rows as :data:`~d2l_alexnet.core.architecture.ALEXNET`, so the two can be compared shape by
  shape; :func:`comparison_table` renders that comparison as a Markdown table, computed from the
  same table every backend builds its AlexNet from.
- :func:`resolve_mode` decides whether a notebook trains the chapter's full run, a quick one, or
  the tests' shortest one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .architecture import ALEXNET, CHAPTER_RESIZE, Layer, layer_table
from .language import check_language, number, say
from .types import Size

QUICK_ENV = "D2L_ALEXNET_QUICK"
_FORCED = {"1": "quick", "0": "full", "smoke": "smoke"}  # D2L_ALEXNET_QUICK -> mode
MODES = tuple(_FORCED.values())  # what resolve_mode returns

# LeNet-5 as in sec_lenet: sigmoid activations and average pooling on 28×28 inputs.
LENET = (
    Layer("conv", 6, kernel=5, padding=2),
    Layer("sigmoid"),
    Layer("avgpool", kernel=2, stride=2),
    Layer("conv", 16, kernel=5),
    Layer("sigmoid"),
    Layer("avgpool", kernel=2, stride=2),
    Layer("flatten"),
    Layer("dense", 120),
    Layer("sigmoid"),
    Layer("dense", 84),
    Layer("sigmoid"),
    Layer("dense", None),
)
LENET_RESIZE = 28

_ACTIVATIONS = {"relu": "ReLU", "sigmoid": "sigmoid"}


def describe_table(layers: Sequence[Layer], resize: Size, num_classes: int = 10,
                   ) -> list[tuple[Layer, tuple[int, ...], int]]:
    """``[(layer, output_shape, parameters), ...]`` of any table, LeNet's sigmoid and average-
    pool rows included: the very function that measures AlexNet measures it."""
    return [(row.layer, row.output_shape, row.parameters)
            for row in layer_table(resize, num_classes, layers=layers)]


def _describe(layer, output_shape, language):
    if layer.kind == "conv":
        text = f"Conv {layer.units}, {layer.kernel}×{layer.kernel}"
        if layer.stride != 1:
            text += f", stride {layer.stride}"
        if layer.padding:
            text += f", pad {layer.padding}"
        return text
    if layer.kind in ("maxpool", "avgpool"):
        name = "MaxPool" if layer.kind == "maxpool" else "AvgPool"
        return f"{name} {layer.kernel}×{layer.kernel}, stride {layer.stride}"
    if layer.kind == "dense":
        return f"Dense {number(output_shape[0], language=language)}"
    if layer.kind == "flatten":
        return "Flatten"
    raise ValueError(f"no description for a {layer.kind!r} row")


def _blocks(layers, resize, num_classes, language):
    """Group rows into blocks: a convolution, pooling, flatten or dense row with the activation
    and dropout rows after it. Returns ``[(kind, text, shape text, parameters), ...]``."""
    blocks = []
    for layer, shape, parameters in describe_table(layers, resize, num_classes):
        shape_text = "×".join(number(size, language=language) for size in shape)
        if layer.kind in _ACTIVATIONS or layer.kind == "dropout":
            if not blocks:
                raise ValueError(f"a {layer.kind!r} row cannot come first")
            kind, text, _, block_parameters = blocks[-1]
            extra = (_ACTIVATIONS.get(layer.kind)
                     or f"dropout {number(layer.rate, None, language)}")
            blocks[-1] = (kind, f"{text} + {extra}", shape_text, block_parameters + parameters)
        else:
            blocks.append((layer.kind, _describe(layer, shape, language), shape_text, parameters))
    return blocks


def _align(left, right):
    """Pair two networks' blocks: the feature extractors from the top (so the first convolutions
    face each other), flatten with flatten, the dense heads from the bottom (so the output layers
    face each other). Missing blocks are ``None``."""

    def split(blocks):
        kinds = [block[0] for block in blocks]
        cut = kinds.index("flatten") if "flatten" in kinds else len(blocks)
        return blocks[:cut], blocks[cut:cut + 1], blocks[cut + 1:]

    pairs = []
    (left_features, left_flat, left_head), (right_features, right_flat, right_head) = (
        split(left), split(right))
    for index in range(max(len(left_features), len(right_features))):
        pairs.append((left_features[index] if index < len(left_features) else None,
                      right_features[index] if index < len(right_features) else None))
    if left_flat or right_flat:
        pairs.append((left_flat[0] if left_flat else None, right_flat[0] if right_flat else None))
    depth = max(len(left_head), len(right_head))
    left_head = [None] * (depth - len(left_head)) + list(left_head)
    right_head = [None] * (depth - len(right_head)) + list(right_head)
    pairs.extend(zip(left_head, right_head))
    return pairs


def mode_name(mode: str, language: str | None = None) -> str:
    """What a notebook calls a run of ``mode`` (one of :data:`MODES`) in ``language`` (``None``:
    the language :func:`~d2l_alexnet.core.language.set_language` set)."""
    return say(f"mode_{mode}", language)


def comparison_table(resize: int = CHAPTER_RESIZE, num_classes: int = 10,
                     language: str | None = None) -> str:
    """LeNet-5 and AlexNet side by side as a Markdown table (d2l, sec_alexnet's figure).

    Both take one greyscale channel, as Fashion-MNIST has. Each row is one block (a layer with
    the activation and dropout that follow it), with the output shape of one image
    (channels × height × width) and its parameters; the last row holds the totals. Both columns
    are computed from the layer descriptions, AlexNet's being the table every backend builds
    from. In ``language``'s words and number format (``None``: the language set).
    """
    language = check_language(language)
    left = _blocks(LENET, LENET_RESIZE, num_classes, language)
    right = _blocks(ALEXNET, resize, num_classes, language)

    def cells(block):
        if block is None:
            return ["", "", ""]
        _, text, shape, parameters = block
        return [text, shape, number(parameters, language=language) if parameters else ""]

    def words(key):
        return say(f"table_{key}", language)

    header = [f"LeNet-5 ({LENET_RESIZE}×{LENET_RESIZE} {words('input')})", words("output"),
              words("parameters"), f"AlexNet ({resize}×{resize} {words('input')})",
              words("output"), words("parameters")]
    rows = [header, ["---", "---", "---:", "---", "---", "---:"],
            [words("image"), f"1×{LENET_RESIZE}×{LENET_RESIZE}", "", words("image"),
             f"1×{resize}×{resize}", ""]]
    for left_block, right_block in _align(left, right):
        rows.append(cells(left_block) + cells(right_block))
    totals = [sum(block[3] for block in blocks) for blocks in (left, right)]
    total = f"**{words('total')}**"
    rows.append([total, "", f"**{number(totals[0], language=language)}**", total, "",
                 f"**{number(totals[1], language=language)}**"])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def resolve_mode(quick: bool | None, gpu_available: bool,
                 environ: Mapping[str, str] | None = None, language: str | None = None,
                 ) -> tuple[str, str]:
    """How long a notebook trains, and why: returns ``(mode, reason)``, ``mode`` being one of
    :data:`MODES` and ``reason`` a few words in ``language``.

    ``D2L_ALEXNET_QUICK`` in the environment wins: ``1`` the quick run, ``0`` the chapter's full
    run, ``smoke`` the project's own test run (every cell once, too briefly to learn), so tests
    need no papermill. Otherwise ``quick=True``/``False`` is obeyed, and ``quick=None`` means
    the full run when the framework sees a GPU and the quick run when it does not.
    """
    environ = os.environ if environ is None else environ
    forced = environ.get(QUICK_ENV, "").strip()
    if forced:
        if forced not in _FORCED:
            raise ValueError(f"{QUICK_ENV} must be 1 (quick run), 0 (full run) or smoke (the "
                             f"tests' run), got {forced!r}")
        return _FORCED[forced], f"{QUICK_ENV}={forced}"
    if quick is None:
        return (("full", say("gpu_found", language)) if gpu_available
                else ("quick", say("gpu_missing", language)))
    if not isinstance(quick, bool):
        raise ValueError(f"QUICK must be None, True or False, got {quick!r}")
    return ("quick" if quick else "full"), f"QUICK = {quick}"
