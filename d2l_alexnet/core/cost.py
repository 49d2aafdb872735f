"""The chapter's first exercise, answered from the architecture table (d2l, sec_alexnet).

Per layer: parameters, parameter memory, forward FLOPs and activation memory; then convolutions
versus dense layers. Memory is fp32 (4 bytes per number); activation memory is for the batch.
"""

from typing import Any

from .architecture import CHAPTER_RESIZE, FLOAT32_BYTES, IN_CHANNELS, format_size, layer_table
from .language import byte_size, check_language, number, say
from .types import Size

_LAYER_NAMES = {"conv": "Conv", "relu": "ReLU", "maxpool": "MaxPool", "flatten": "Flatten",
                "dense": "Dense", "dropout": "Dropout"}


def cost_report(resize: Size = CHAPTER_RESIZE, num_classes: int = 10,
                batch_size: int = 1, in_channels: int = IN_CHANNELS) -> dict[str, Any]:
    """Return ``{"layers": [...], "totals": {...}, "conv": {...}, "dense": {...}}`` for inputs
    of ``in_channels`` (1: Fashion-MNIST's grey; 3: RGB images, as an image folder's).

    Every number is an int (bytes, FLOPs or counts), so the report serializes to JSON as is.
    """
    layers = []
    for index, row in enumerate(layer_table(resize, num_classes, in_channels), start=1):
        layers.append({
            "index": index,
            "layer": _LAYER_NAMES[row.layer.kind],
            "output_shape": list(row.output_shape),
            "parameters": row.parameters,
            "parameter_bytes": row.parameters * FLOAT32_BYTES,
            "forward_flops": row.forward_flops * batch_size,
            "activation_bytes": row.activation_elements * FLOAT32_BYTES * batch_size,
        })

    def total(kinds):
        chosen = [entry for entry in layers if kinds is None or entry["layer"] in kinds]
        keys = ("parameters", "parameter_bytes", "forward_flops", "activation_bytes")
        return {key: sum(entry[key] for entry in chosen) for key in keys}

    return {
        "resize": resize, "num_classes": num_classes, "batch_size": batch_size,
        "in_channels": in_channels, "layers": layers,
        "conv": total({"Conv"}),
        "dense": total({"Dense"}),
        "totals": total(None),
    }


def format_cost_report(report: dict[str, Any], language: str | None = None) -> str:
    """Render :func:`cost_report` as a fixed-width table with a closing comparison, in English
    (``language="en"``) or in the Indonesian edition's words and number format (``"id"``);
    ``None``: the language :func:`~d2l_alexnet.core.language.set_language` set."""
    language = check_language(language)

    def words(key, **values):
        return say(f"cost_{key}", language, **values)

    def count(value, decimals=0):
        return number(value, decimals, language)

    def size(num_bytes):
        return byte_size(num_bytes, language)

    layer, shape_word, params, param_mem, flops, act_mem = (words(column) for column in (
        "layer", "shape", "params", "param_memory", "forward_flops", "activation_memory"))
    header = (f"{'#':>2}  {layer:<8} {shape_word:<16} {params:>12} {param_mem:>11} "
              f"{flops:>11} {act_mem:>11}")
    lines = [words("title", batch=report["batch_size"], size=format_size(report["resize"]),
                   channels=report.get("in_channels", IN_CHANNELS),
                   classes=report["num_classes"]), header, "-" * len(header)]
    for entry in report["layers"]:
        shape = "×".join(str(size) for size in entry["output_shape"])
        lines.append(
            f"{entry['index']:>2}  {entry['layer']:<8} {shape:<16} "
            f"{count(entry['parameters']):>12} {size(entry['parameter_bytes']):>11} "
            f"{count(entry['forward_flops'] / 1e6, 1):>11} {size(entry['activation_bytes']):>11}")
    lines.append("-" * len(header))
    totals = report["totals"]
    for name in ("conv", "dense", "totals"):
        part = report[name]
        lines.append(
            f"{words(name):<15} {words('params')} {count(part['parameters']):>12} "
            f"({count(100 * part['parameters'] / totals['parameters'], 1):>5}%)"
            f"   {words('forward')} {count(part['forward_flops'] / 1e9, 3):>7} GFLOP "
            f"({count(100 * part['forward_flops'] / totals['forward_flops'], 1):>5}%)")
    # The verdicts come from this report's numbers: the weights outweigh the activations for
    # one image, the activations pass them from a batch of 35 at 224×224.
    weights, activations = totals["parameter_bytes"], totals["activation_bytes"]
    lines.append(words(
        "memory", batch=count(report["batch_size"]), weights=size(weights),
        activations=size(activations),
        dense=count(100 * report["dense"]["parameter_bytes"] / weights, 1),
        verdict=words("weights_lead" if weights >= activations else "activations_lead")))
    lines.append(words(
        "compute", conv=count(100 * report["conv"]["forward_flops"] / totals["forward_flops"], 1),
        dense=count(100 * report["dense"]["forward_flops"] / totals["forward_flops"], 1),
        step=count(3 * totals["forward_flops"] / 1e9 / report["batch_size"], 2)))
    return "\n".join(lines)
