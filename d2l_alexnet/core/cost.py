"""The chapter's first exercise, answered from an architecture table (d2l, sec_alexnet).

Per layer: parameters, parameter memory, forward FLOPs and activation memory; then convolutions
versus dense layers. Memory is fp32 (4 bytes per number); activation memory is for the batch.
The table is the chapter's AlexNet unless ``layers`` names another: LeNet-5 or one of the
exercises' tables (:data:`MODELS`), or rows of your own.
"""

from collections.abc import Sequence
from typing import Any

from .architecture import (ALEXNET, CHAPTER_RESIZE, FLOAT32_BYTES, IN_CHANNELS, Layer,
                           format_size, layer_table)
from .exercises import EXERCISE_RESIZE, RECIPES
from .language import byte_size, check_language, number, say
from .types import Size

_LAYER_NAMES = {"conv": "Conv", "relu": "ReLU", "sigmoid": "Sigmoid", "maxpool": "MaxPool",
                "avgpool": "AvgPool", "flatten": "Flatten", "dense": "Dense",
                "dropout": "Dropout"}

# The tables ``python -m d2l_alexnet.cost --model`` costs, each with the input side it is built
# for: the chapter's AlexNet at 224, the exercises' tables at Fashion-MNIST's own 28.
MODELS: dict[str, tuple[Layer, ...]] = {
    "alexnet": ALEXNET, **{name: recipe.layers for name, recipe in RECIPES.items()}}
NATURAL_RESIZE: dict[str, int] = {
    "alexnet": CHAPTER_RESIZE, **{name: EXERCISE_RESIZE for name in RECIPES}}
# How the title names a table: the chapter's spelling for AlexNet, the flag's for the others.
TITLE_NAMES = {"alexnet": "AlexNet"}
_GIGA = 10 ** 9  # from a GFLOP of forward work up, the report counts in GFLOP, else in MFLOP


def model_name(layers: Sequence[Layer]) -> str | None:
    """The name in :data:`MODELS` of the table ``layers``, or ``None`` for rows of your own."""
    rows = tuple(layers)
    return next((name for name, table in MODELS.items() if table == rows), None)


def cost_report(resize: Size = CHAPTER_RESIZE, num_classes: int = 10,
                batch_size: int = 1, in_channels: int = IN_CHANNELS,
                layers: Sequence[Layer] = ALEXNET, model: str | None = None,
                ) -> dict[str, Any]:
    """Return ``{"model": ..., "layers": [...], "totals": {...}, "conv": {...}, "dense": {...}}``
    for the table ``layers`` (the rows :func:`~d2l_alexnet.core.architecture.layer_table` takes)
    on inputs of ``in_channels`` (1: Fashion-MNIST's grey; 3: RGB images, as an image folder's).

    ``model`` names the table in the title and the JSON; ``None``: its name in :data:`MODELS`,
    or ``None`` still for rows of your own. Every number is an int (bytes, FLOPs or counts), so
    the report serializes to JSON as is. Raises ``ValueError`` (one line) for a table that
    cannot take ``resize``.
    """
    rows = layer_table(resize, num_classes, in_channels, layers=layers)
    entries = []
    for index, row in enumerate(rows, start=1):
        entries.append({
            "index": index,
            "layer": _LAYER_NAMES[row.layer.kind],
            "output_shape": list(row.output_shape),
            "parameters": row.parameters,
            "parameter_bytes": row.parameters * FLOAT32_BYTES,
            "forward_flops": row.forward_flops * batch_size,
            "activation_bytes": row.activation_elements * FLOAT32_BYTES * batch_size,
        })

    def total(kind):
        chosen = [entry for entry in entries if kind is None or entry["layer"] == kind]
        keys = ("parameters", "parameter_bytes", "forward_flops", "activation_bytes")
        return {key: sum(entry[key] for entry in chosen) for key in keys}

    return {
        "model": model_name(layers) if model is None else model,
        "resize": resize, "num_classes": num_classes, "batch_size": batch_size,
        "in_channels": in_channels, "layers": entries,
        "conv": total("Conv"),
        "dense": total("Dense"),
        "totals": total(None),
    }


def format_cost_report(report: dict[str, Any], language: str | None = None) -> str:
    """Render :func:`cost_report` as a fixed-width table with a closing comparison, in English
    (``language="en"``) or in the Indonesian edition's words and number format (``"id"``);
    ``None``: the language :func:`~d2l_alexnet.core.language.set_language` set.

    Under a GFLOP of forward work (LeNet, the exercises' tables, AlexNet on small inputs) the
    FLOPs are given in MFLOP, the layers' to three decimals, so that no layer reads 0.0."""
    language = check_language(language)

    def words(key, **values):
        return say(f"cost_{key}", language, **values)

    def count(value, decimals=0):
        return number(value, decimals, language)

    def size(num_bytes):
        return byte_size(num_bytes, language)

    totals = report["totals"]
    large = totals["forward_flops"] >= _GIGA
    layer_decimals, flop_unit, flop_scale = (1, "GFLOP", _GIGA) if large else (3, "MFLOP", 1e6)

    def flops_in_unit(flops, decimals):
        return count(flops / flop_scale, decimals)

    layer, shape_word, params, param_mem, flops, act_mem = (words(column) for column in (
        "layer", "shape", "params", "param_memory", "forward_flops", "activation_memory"))
    header = (f"{'#':>2}  {layer:<8} {shape_word:<16} {params:>12} {param_mem:>11} "
              f"{flops:>11} {act_mem:>11}")
    model = report.get("model", "alexnet")  # a report saved before it named its table
    title_name = words("unnamed") if model is None else TITLE_NAMES.get(model, model)
    lines = [words("title", model=title_name, batch=report["batch_size"],
                   size=format_size(report["resize"]),
                   channels=report.get("in_channels", IN_CHANNELS),
                   classes=report["num_classes"]), header, "-" * len(header)]
    for entry in report["layers"]:
        shape = "×".join(str(size) for size in entry["output_shape"])
        lines.append(
            f"{entry['index']:>2}  {entry['layer']:<8} {shape:<16} "
            f"{count(entry['parameters']):>12} {size(entry['parameter_bytes']):>11} "
            f"{count(entry['forward_flops'] / 1e6, layer_decimals):>11} "
            f"{size(entry['activation_bytes']):>11}")
    lines.append("-" * len(header))
    for name in ("conv", "dense", "totals"):
        part = report[name]
        lines.append(
            f"{words(name):<15} {words('params')} {count(part['parameters']):>12} "
            f"({count(100 * part['parameters'] / totals['parameters'], 1):>5}%)"
            f"   {words('forward')} {flops_in_unit(part['forward_flops'], 3):>7} {flop_unit} "
            f"({count(100 * part['forward_flops'] / totals['forward_flops'], 1):>5}%)")
    # The verdicts come from this report's numbers: the weights outweigh the activations for
    # one image, the activations pass them from a batch of 35 at 224×224. Every table ends in a
    # dense layer, so the shares below never divide by zero; a table may have only that one.
    weights, activations = totals["parameter_bytes"], totals["activation_bytes"]
    dense_layers = sum(entry["layer"] == "Dense" for entry in report["layers"])
    the_dense = words("the_dense_layers" if dense_layers > 1 else "the_dense_layer")
    lines.append(words(
        "memory", batch=count(report["batch_size"]), weights=size(weights),
        activations=size(activations),
        dense=count(100 * report["dense"]["parameter_bytes"] / weights, 1), the_dense=the_dense,
        verdict=words("weights_lead" if weights >= activations else "activations_lead")))
    step = 3 * totals["forward_flops"] / report["batch_size"]
    lines.append(words(
        "compute", conv=count(100 * report["conv"]["forward_flops"] / totals["forward_flops"], 1),
        dense=count(100 * report["dense"]["forward_flops"] / totals["forward_flops"], 1),
        the_dense=the_dense,
        step=(f"{count(step / _GIGA, 2)} GFLOP" if step >= _GIGA
              else f"{count(step / 1e6, 2)} MFLOP")))
    return "\n".join(lines)
