"""The language of what a run prints as it goes: English, or the Indonesian edition's words and
number format (a dot between thousands and a decimal comma: 42.999.808 parameters, 0,8824).

The chapter's Indonesian notebooks call ``set_language("id")`` once, so that the Trainer's lines,
``layer_summary``, a data module's summary and download, a weights file's adaptation note, the
cost report and the comparison table print as their own cells do; read "4,096 gambar", an
Indonesian reader sees about four. Errors stay in English in every language: people search for
them, quote them in issues, and the tests match them. The command line never changes the
language.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "id")
_current = ["en"]  # (a list, so that set_language needs no global statement)

# Indonesian swaps the two separators of Python's English format.
_INDONESIAN_SEPARATORS = str.maketrans({",": ".", ".": ","})

# The words of everything a run or a notebook prints (errors aside), by key, so that a
# translator finds them in one place; the Indonesian in the edition's terms (epoch and batch
# kept in English, as the edition keeps them; "saluran" for channels).
MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "training_on": "training on {device} ({precision}{placement}): {per_epoch}, "
                       "{epochs} epoch(s)",
        "data_on_device": ", data on the device",
        "images_per_epoch": "{images} images per epoch, batch {batch}",
        "loader_batches": "the batches of {loader}",
        "epoch": "epoch {epoch}/{epochs}: train_loss {train_loss}  val_loss {val_loss}  "
                 "val_acc {val_acc}  {seconds} s  {rate} img/s",
        "image_unit": "img",
        "image_folder": "{owner} {root}: {classes} classes, {train} training and {val} "
                        "validation images, {shape} ({memory} in memory)",
        "conv1_adapted": "{path}: conv1 was saved for {saved} input channel(s), the model has "
                         "{channels}: its kernel was {rule}",
        "conv1_summed": "summed over its {saved} input channels",
        "conv1_repeated": "repeated over {channels} input channels and divided by {channels}",
        # The cost report (core/cost.py): the chapter's terms (lapisan fully connected).
        "cost_title": "{model} cost for {batch} image(s) of {channels}×{size}, "
                      "{classes} classes (fp32)",
        "cost_unnamed": "Table",  # the title's name for rows of your own
        "cost_layer": "layer", "cost_shape": "output shape", "cost_params": "params",
        "cost_param_memory": "param mem", "cost_forward_flops": "fwd MFLOPs",
        "cost_activation_memory": "act mem",
        "cost_conv": "convolutions", "cost_dense": "dense layers", "cost_totals": "all layers",
        "cost_forward": "forward",
        "cost_memory": "Memory for {batch} image(s): {weights} of weights ({dense}% of them in "
                       "{the_dense}) and {activations} of activations: {verdict}.",
        "cost_the_dense_layers": "the dense layers", "cost_the_dense_layer": "the dense layer",
        "cost_weights_lead": "the weights dominate",
        "cost_activations_lead": "the activations dominate (they grow with the batch, the "
                                 "weights do not)",
        "cost_compute": "Compute: the convolutions do {conv}% of the forward FLOPs, {the_dense} "
                        "{dense}%. A training step costs about 3× the forward pass: "
                        "{step} per image.",
        # The notebooks' comparison table and run modes (core/notebook.py).
        "table_input": "input", "table_output": "output", "table_parameters": "parameters",
        "table_image": "image", "table_total": "total",
        "mode_quick": "quick run", "mode_smoke": "smoke run", "mode_full": "full run",
        "gpu_found": "a GPU is available", "gpu_missing": "no GPU found",
        # layer_summary's lines, in the book's own format.
        "layer_output": "{layer} output shape:\t {shape}",
        # Notices a notebook may print: data downloaded or found elsewhere, files skipped, an early
        # stop.
        "subset_notice": "Full Fashion-MNIST not found; using the embedded {total}-image subset "
                         "({train} train, {val} validation; accuracies will not match the "
                         "book). {how}.",
        "how_to_get": "To get the full set, allow the download (needs internet), run "
                      "`apt-get install dataset-fashion-mnist`, or pass --data-dir DIR (or set "
                      "{variable}=DIR) naming a directory with the four official files, .gz or "
                      "not",
        "downloading": "Downloading {url}",
        "downloaded": "Fashion-MNIST downloaded and verified into {cache}",
        "skipped_one": "{owner} {root}: skipped 1 unreadable image file: {paths}",
        "skipped_many": "{owner} {root}: skipped {count} unreadable image files: {paths}",
        "early_stopping": "early stopping: val_acc has not improved on {best} (epoch {epoch}) "
                          "for {count} epochs",
        "gpus_missing": "num_gpus={num_gpus}: no GPU is visible to {framework}, so this trains "
                        "on the CPU as one device, as the book's Trainer does ({how} makes "
                        "{requested} CPU replicas)",
    },
    "id": {
        "training_on": "pelatihan di {device} ({precision}{placement}): {per_epoch}, "
                       "{epochs} epoch",
        "data_on_device": ", data di perangkat",
        "images_per_epoch": "{images} gambar per epoch, batch {batch}",
        "loader_batches": "batch dari {loader}",
        "epoch": "epoch {epoch}/{epochs}: train_loss {train_loss}  val_loss {val_loss}  "
                 "val_acc {val_acc}  {seconds} s  {rate} gambar/s",
        "image_unit": "gambar",
        "image_folder": "{owner} {root}: {classes} kelas, {train} gambar latih dan {val} "
                        "gambar validasi, {shape} ({memory} di memori)",
        "conv1_adapted": "{path}: conv1 disimpan untuk {saved} saluran input, model ini punya "
                         "{channels}: kernelnya {rule}",
        "conv1_summed": "dijumlahkan atas {saved} saluran inputnya",
        "conv1_repeated": "diulang untuk {channels} saluran input lalu dibagi {channels}",
        "cost_title": "Biaya {model} untuk {batch} gambar {channels}×{size}, "
                      "{classes} kelas (fp32)",
        "cost_unnamed": "tabel",
        "cost_layer": "lapisan", "cost_shape": "bentuk output", "cost_params": "parameter",
        "cost_param_memory": "memori par", "cost_forward_flops": "MFLOP maju",
        "cost_activation_memory": "memori akt",
        "cost_conv": "konvolusi", "cost_dense": "fully connected", "cost_totals": "semua lapisan",
        "cost_forward": "maju",
        "cost_memory": "Memori untuk {batch} gambar: parameter {weights} ({dense}% di "
                       "{the_dense}) dan aktivasi {activations}: {verdict}.",
        # Indonesian nouns take no plural: one fully connected layer or several read the same.
        "cost_the_dense_layers": "lapisan fully connected",
        "cost_the_dense_layer": "lapisan fully connected",
        "cost_weights_lead": "parameter yang mendominasi",
        "cost_activations_lead": "aktivasi yang mendominasi (aktivasi tumbuh dengan ukuran "
                                 "batch, parameter tidak)",
        "cost_compute": "Komputasi: konvolusi mengerjakan {conv}% FLOP lintasan maju, "
                        "{the_dense} {dense}%. Satu langkah pelatihan sekitar 3× lintasan "
                        "maju: {step} per gambar.",
        "table_input": "input", "table_output": "output", "table_parameters": "parameter",
        "table_image": "gambar", "table_total": "total",
        "mode_quick": "pelatihan cepat", "mode_smoke": "pelatihan uji singkat",
        "mode_full": "pelatihan penuh",
        "gpu_found": "ada GPU", "gpu_missing": "tidak ada GPU",
        "layer_output": "{layer} bentuk output:\t {shape}",
        "subset_notice": "Fashion-MNIST lengkap tidak ditemukan; memakai subset bawaan berisi "
                         "{total} gambar ({train} latih, {val} validasi; akurasinya tidak akan "
                         "sama dengan buku). {how}.",
        "how_to_get": "Untuk mendapatkan set lengkapnya, izinkan pengunduhan (perlu internet), "
                      "jalankan `apt-get install dataset-fashion-mnist`, atau berikan "
                      "--data-dir DIR (atau atur {variable}=DIR) yang menunjuk direktori berisi "
                      "keempat file resmi, .gz atau bukan",
        "downloading": "Mengunduh {url}",
        "downloaded": "Fashion-MNIST telah diunduh dan diverifikasi ke {cache}",
        "skipped_one": "{owner} {root}: 1 file gambar yang tidak terbaca dilewati: {paths}",
        "skipped_many": "{owner} {root}: {count} file gambar yang tidak terbaca dilewati: "
                        "{paths}",
        "early_stopping": "penghentian dini: val_acc tidak membaik dari {best} (epoch {epoch}) "
                          "selama {count} epoch",
        "gpus_missing": "num_gpus={num_gpus}: tidak ada GPU yang terlihat oleh {framework}, "
                        "jadi pelatihan berjalan di CPU sebagai satu perangkat, seperti Trainer "
                        "buku ini ({how} membuat {requested} replika CPU)",
    },
}


def check_language(language: str | None) -> str:
    """``language``, or the current one for ``None``; any other than :data:`LANGUAGES` raises
    ``ValueError``."""
    if language is None:
        return _current[0]
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    return language


def set_language(language: str) -> None:
    """Print in ``language`` from now on, in this process: ``"en"`` or ``"id"``."""
    _current[0] = check_language(language)


def get_language() -> str:
    """The language set by :func:`set_language` (``"en"`` until then)."""
    return _current[0]


def number(value: float, decimals: int | None = 0, language: str | None = None, *,
           grouped: bool = True) -> str:
    """``value`` with ``decimals`` digits after the point (``None``: as few as it needs) and, if
    ``grouped``, its thousands grouped, as ``language`` writes numbers: ``4,096`` and ``0.8824``
    in English, ``4.096`` and ``0,8824`` in Indonesian."""
    grouping = "," if grouped else ""
    text = f"{value:{grouping}g}" if decimals is None else f"{value:{grouping}.{decimals}f}"
    if check_language(language) == "id":
        return text.translate(_INDONESIAN_SEPARATORS)
    return text


def byte_size(count: float, language: str | None = None) -> str:
    """A size in bytes in binary units, one decimal from KiB up: ``45.8 KiB``, ``0 B``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            break
        count /= 1024
    return f"{number(count, 0 if unit == 'B' else 1, language)} {unit}"


def say(key: str, language: str | None = None, **values: Any) -> str:
    """The message ``key`` of :data:`MESSAGES` in ``language``, filled with ``values`` (numbers
    formatted by the caller, with :func:`number`)."""
    return MESSAGES[check_language(language)][key].format(**values)
