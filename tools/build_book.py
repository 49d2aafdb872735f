#!/usr/bin/env python3
"""Build the chapter as a web page: the four executed framework notebooks of a language merged
into one MyST page with a tab per framework, then HTML with Sphinx (``book/conf.py``).

Input: a folder of executed notebooks laid out as ``notebooks/`` is (``alexnet-<framework>.ipynb``
and ``alexnet-in-another-lesson.ipynb``, the Indonesian ones under ``id/``), as
``tools/run_notebooks.py --executed-dir`` writes them. Cells are matched by their ``id``: the
same id in two frameworks' notebooks is the same place in the chapter. A markdown cell that all
frameworks share appears once; one that differs, or that some frameworks lack, appears as a
tab set with a tab per framework that has it (a leading heading stays outside the tabs: shared
as it is, or with the framework's name taken out). Every code cell appears as a tab set, each
tab the framework's code and its outputs. Tab sets share the sync group ``framework``, so that
choosing PyTorch once shows PyTorch everywhere on the page. After the chapter comes a
"Measured runs" section from ``results/``: the full runs' curves, the time-to-accuracy table,
and the figure of the first layer's filters once ``results/first-layer-filters/conv1.safetensors``
is recorded (with ``conv1-initial.safetensors`` beside it, the run's start, a second figure of
what training added).

Usage::

    python tools/build_book.py --executed build/book/executed/auto --out build/book

writes the page sources to ``OUT/src/<language>/`` and the HTML to ``OUT/html/<language>/``
(``index.html`` the chapter, ``lesson.html`` the lesson notebook). Exit 2 with one line on bad
input (no executed notebooks, a notebook that stopped at an error, Sphinx missing); 1 if Sphinx
fails.
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # d2l_alexnet.core: framework-free, for the filters figure

from d2l_alexnet.core.language import number  # noqa: E402  (1,234.5 / 1.234,5)

# d2l.ai's order and labels; the sync ids are what a URL's ?framework=... selects.
FRAMEWORKS = (("pytorch", "PyTorch"), ("mxnet", "MXNet"), ("jax", "JAX"),
              ("tensorflow", "TensorFlow"))
LANGUAGES = {"en": "", "id": "id"}  # language -> folder under the executed notebooks
LESSON = "alexnet-in-another-lesson.ipynb"
SYNC_GROUP = "framework"
FILTERS_KERNEL = Path("first-layer-filters") / "conv1.safetensors"
# The same run's starting kernel, when kept: the page then draws what training added too.
FILTERS_START = Path("first-layer-filters") / "conv1-initial.safetensors"
FILTERS_COMMAND = ("python -m d2l_alexnet.filters --weights runs/chapter/weights.safetensors "
                   "--save-kernel results/first-layer-filters/conv1.safetensors")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")
WIDGET = "application/vnd.jupyter.widget-view+json"
# Words that join a framework's name to a heading ("... with PyTorch", "... dalam JAX").
JOINERS = r"(?:with|in|for|using|dengan|dalam|untuk|di|memakai|menggunakan)"


class BookError(Exception):
    """Input the page cannot be built from; the message says what to do."""


# ---- merging the frameworks' notebooks ------------------------------------------------------
def merged_order(id_lists):
    """One order of every id in ``id_lists`` that keeps each list's own order (the notebooks
    list their shared ids in the same relative order; an id some lack goes after the id it
    follows in the first notebook that has it)."""
    order = []
    for ids in id_lists:
        position = -1
        for cell_id in ids:
            if cell_id in order:
                position = order.index(cell_id)
            else:
                position += 1
                order.insert(position, cell_id)
    return order


def split_heading(source):
    """``(level, text, body)`` for markdown that starts with a heading, else ``None``."""
    first, _, body = source.strip("\n").partition("\n")
    match = HEADING.fullmatch(first)
    return (len(match.group(1)), match.group(2), body.strip("\n")) if match else None


def shared_heading(headings):
    """The heading of ``{label: text}`` shared by every framework: the text when they agree,
    or the text with the framework's name (and the word joining it) taken out when that makes
    them agree; ``None`` otherwise."""
    if len(set(headings.values())) == 1:
        return next(iter(headings.values()))
    stripped = {re.sub(rf"[,:;]?\s*(?:\b{JOINERS}\s+)?{re.escape(label)}\b", "", text).strip()
                for label, text in headings.items()}
    if len(stripped) == 1 and next(iter(stripped)):
        return next(iter(stripped))
    return None


def fence(text, char="`", minimum=3):
    """A fence of ``char`` longer than any run of it that starts a line of ``text``."""
    runs = [len(match.group(0)) for match in re.finditer(rf"^\s*({re.escape(char)}+)", text,
                                                          re.MULTILINE)]
    return char * max([minimum] + [run + 1 for run in runs])


def directive(name, argument="", options=(), body=""):
    """A MyST directive in colon fences, long enough to hold ``body``'s own directives."""
    colons = fence(body, ":")
    lines = [f"{colons}{{{name}}} {argument}".rstrip()]
    lines += [f":{key}: {value}" for key, value in options]
    return "\n".join(lines + ["", body.strip("\n"), colons])


def code_block(text, language="text"):
    ticks = fence(text)
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def tab_set(contents):
    """A synced tab set of ``[(framework, label, markdown)]``, in d2l.ai's order."""
    items = [directive("tab-item", label, [("sync", framework)], markdown)
             for framework, label, markdown in contents]
    return directive("tab-set", "", [("sync-group", SYNC_GROUP)], "\n\n".join(items))


def clean_stream(text):
    """Printed text as a reader would have seen it last: no ANSI colours, and of each line
    only what came after its last carriage return (a progress bar's final state)."""
    text = ANSI.sub("", text)
    lines = []
    for line in text.split("\n"):
        parts = [part for part in line.split("\r") if part.strip()]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines).strip("\n")


def source_of(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def joined(value):
    return "".join(value) if isinstance(value, list) else value


class Assets:
    """Writes the page's images beside it and names them for the page's Markdown."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def path(self, name):
        """``(file to write, the page's link to it)`` for the image ``name``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{name}.png", f"{self.folder.name}/{name}.png"

    def png(self, data, name):
        path, link = self.path(name)
        path.write_bytes(data)
        return link


def stream_texts(outputs):
    """Each stream output's text, less an unfinished last line that the same stream's next
    output overwrites with a carriage return (a progress bar redrawn after a figure)."""
    texts = {}
    for index, output in enumerate(outputs):
        if output.get("output_type") != "stream":
            continue
        text = joined(output.get("text", ""))
        later = [joined(other.get("text", "")) for other in outputs[index + 1:]
                 if other.get("output_type") == "stream"
                 and other.get("name") == output.get("name")]
        if later and later[0].startswith("\r"):
            text = text[:text.rfind("\n") + 1]
        texts[index] = text
    return texts


def outputs_markdown(cell, assets, name, alt):
    """A code cell's outputs as Markdown: streams and plain text as literal blocks, Markdown
    as Markdown, PNG images as images; widgets are left out."""
    outputs = cell.get("outputs", [])
    texts, parts, printed = stream_texts(outputs), [], []  # printed: [stream name, text]

    def flush():
        # stdout and stderr in one block, in the order they came (a progress bar's last state
        # before its epoch's line, not every bar after every line); a switch of stream starts
        # a new line, as a terminal's bar left standing would.
        text = "".join(chunk if index == 0 or printed[index - 1][1].endswith("\n")
                       or printed[index - 1][0] == name else "\n" + chunk
                       for index, (name, chunk) in enumerate(printed))
        if clean_stream(text):
            parts.append(code_block(clean_stream(text)))
        printed.clear()

    for index, output in enumerate(outputs):
        kind = output.get("output_type")
        if kind == "stream":
            printed.append((output.get("name", "stdout"), texts[index]))
            continue
        flush()
        if kind == "error":
            raise BookError(f"the executed notebook stopped at an error in cell {name} "
                            f"({output.get('ename')}: {output.get('evalue')}): run it again")
        data = output.get("data", {})
        if WIDGET in data:
            continue  # a live widget (a notebook progress bar): nothing to read once still
        if "text/markdown" in data:
            parts.append(joined(data["text/markdown"]).strip("\n"))
        elif "image/png" in data:
            path = assets.png(base64.b64decode(joined(data["image/png"])), f"{name}-{index}")
            parts.append(f"![{alt}]({path})")
        elif "text/plain" in data:
            text = clean_stream(joined(data["text/plain"]))
            if text:
                parts.append(code_block(text))
    flush()
    return parts


def code_markdown(cell, assets, name, alt):
    source = source_of(cell).rstrip()
    language = "ipython3" if re.search(r"^\s*[%!]", source, re.MULTILINE) else "python"
    return "\n\n".join([code_block(source, language)] + outputs_markdown(cell, assets, name, alt))


def chapter_markdown(notebooks, assets, language):
    """The chapter's page: ``notebooks`` is ``{framework: notebook}`` of one language."""
    present = [(framework, label) for framework, label in FRAMEWORKS if framework in notebooks]
    cells = {framework: {cell["id"]: cell for cell in notebooks[framework]["cells"]}
             for framework, _ in present}
    order = merged_order([[cell["id"] for cell in notebooks[framework]["cells"]]
                          for framework, _ in present])
    blocks = []
    for cell_id in order:
        having = [(framework, label) for framework, label in present
                  if cell_id in cells[framework]]
        kinds = {cells[framework][cell_id]["cell_type"] for framework, _ in having}
        if kinds == {"markdown"}:
            blocks.extend(markdown_blocks(cell_id, having, cells, len(present)))
        elif kinds == {"code"}:
            blocks.append(tab_set([
                (framework, label,
                 code_markdown(cells[framework][cell_id], assets, f"{framework}-{cell_id}",
                               ALT[language].format(framework=label, cell=cell_id)))
                for framework, label in having]))
        else:
            raise BookError(f"cell {cell_id} is markdown in some notebooks and code in others: "
                            "give each place of the chapter its own id")
    return "\n\n".join(blocks)


def markdown_blocks(cell_id, having, cells, framework_count):
    """A markdown cell once when every framework has it alike; else its heading (when one can
    be shared) followed by a tab set of the frameworks' versions."""
    sources = {label: source_of(cells[framework][cell_id]).strip("\n")
               for framework, label in having}
    if len(having) == framework_count and len(set(sources.values())) == 1:
        return [next(iter(sources.values()))]
    blocks, bodies = [], sources
    split = {label: split_heading(text) for label, text in sources.items()}
    if all(split.values()) and len({parts[0] for parts in split.values()}) == 1:
        heading = shared_heading({label: parts[1] for label, parts in split.items()})
        if heading is not None:
            level = next(iter(split.values()))[0]
            blocks.append(f"{'#' * level} {heading}")
            bodies = {label: parts[2] for label, parts in split.items()}
    if any(bodies.values()):
        if len(having) == framework_count and len(set(bodies.values())) == 1:
            blocks.append(next(iter(bodies.values())))
        else:
            blocks.append(tab_set([(framework, label, bodies[label] or "")
                                   for framework, label in having]))
    return blocks


def lesson_markdown(notebook, assets, language):
    blocks = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            blocks.append(source_of(cell).strip("\n"))
        elif cell["cell_type"] == "code":
            blocks.append(code_markdown(cell, assets, f"lesson-{cell['id']}",
                                        ALT[language].format(framework="PyTorch",
                                                             cell=cell["id"])))
    return "\n\n".join(blocks)


# ---- the measured runs from results/ --------------------------------------------------------
ALT = {"en": "Output of the {framework} cell {cell}",
       "id": "Output sel {framework} {cell}"}
TEXT = {
    "en": {
        "other": "Baca dalam bahasa Indonesia", "lesson": "AlexNet in another lesson",
        "api": "Python API reference",
        "title": "Measured runs",
        "intro": "The outputs above come from the notebooks as this page's build ran them; "
                 "the cell that chooses the training settings, just before training starts, "
                 "prints which run that was (the quick run, the smoke run or the chapter's "
                 "full run) and why. The full runs below were "
                 "measured with the package's own commands and are kept in `results/` with "
                 "the commands that made them. "
                 "Accuracy is the share of the 10,000 validation images whose predicted class "
                 "is the true one:",
        "formula": r"\mathrm{accuracy} = \frac{1}{n} \sum_{i=1}^{n} "
                   r"\mathbb{1}\left[\hat{y}_i = y_i\right], \qquad n = 10\,000.",
        "curves": "The chapter's run: 10 epochs",
        "curve": "{backend}, {precision}, on {device}: validation accuracy {acc} after the "
                 "10th epoch, {time} of training and validation (`results/{folder}/`).",
        "devices": {"cpu2": "a 2-core CPU", "h200": "an NVIDIA H200"},
        "tta": "Time to {target}",
        "tta_intro": "`python -m d2l_alexnet.bench --time-to-accuracy {target}`: the chapter's "
                     "network at 224×224 on all 60,000 training images, evaluated every half "
                     "epoch, stopped at the first evaluation at or above {shown}; the clock "
                     "runs from the command's start. One row per record in "
                     "`results/time-to-accuracy/`.",
        "columns": ("backend", "precision", "recipe", "device", "minutes to {target}",
                    "images", "epochs", "accuracy there", "record"),
        "plan": "{recipe}, {epochs}-epoch plan", "not_reached": "not reached",
        "cpu": "CPU, {count} cores", "gpu": "GPU",
        "filters": "What the first layer learned",
        "filters_caption": "The 96 filters of the first convolution (11×11, one input "
                           "channel: the images are greyscale) after the chapter's full run, "
                           "each scaled to its own range. That network reached validation "
                           "accuracy {acc} after {epoch} epochs "
                           "(`results/first-layer-filters/`).",
        "filters_change_alt": "What training added to the first layer's filters",
        "filters_change": "What training added to the same 96 filters: each minus its random "
                          "start, scaled the same way. The start still dominates the figure "
                          "above. Fashion-MNIST's 28-pixel images are enlarged eight times, so "
                          "an 11×11 window at stride 4 spans less than two of the original "
                          "pixels and sees a smooth patch; a filter's gradient is a sum of "
                          "such patches, so only its smooth part learns, and nothing in the "
                          "chapter's recipe (no weight decay) wears the random start away. "
                          "What the layer learned is here: edges, brightness ramps and blobs.",
        "filters_missing": "The chapter shows the 96 filters its first layer learns. Their "
                           "figure here comes from the first-layer kernel of a full chapter "
                           "run, and that run is not yet recorded in `results/`; it will be "
                           "drawn from `results/first-layer-filters/conv1.safetensors` "
                           "(made by `{command}`).",
    },
    "id": {
        "other": "Read in English", "lesson": "AlexNet di pelajaran lain",
        "api": "Referensi API Python (dalam bahasa Inggris, dari docstring kode)",
        "title": "Hasil pelatihan penuh yang terukur",
        "intro": "Output di atas berasal dari notebook sebagaimana build halaman ini "
                 "menjalankannya; sel yang memilih pengaturan pelatihan, tepat sebelum pelatihan "
                 "dimulai, mencetak jenis pelatihannya (pelatihan cepat, pelatihan uji singkat, "
                 "atau pelatihan penuh seperti di bab) dan alasannya. Pelatihan penuh di bawah "
                 "ini diukur "
                 "dengan perintah paket ini sendiri dan disimpan di `results/` bersama "
                 "perintah yang membuatnya. Akurasi adalah bagian dari 10.000 gambar validasi "
                 "yang kelas prediksinya sama dengan kelas sebenarnya:",
        "formula": r"\mathrm{akurasi} = \frac{1}{n} \sum_{i=1}^{n} "
                   r"\mathbb{1}\left[\hat{y}_i = y_i\right], \qquad n = 10.000.",
        "curves": "Pelatihan seperti di bab: 10 epoch",
        "curve": "{backend}, {precision}, pada {device}: akurasi validasi {acc} setelah epoch "
                 "ke-10, {time} untuk pelatihan dan validasi (`results/{folder}/`).",
        "devices": {"cpu2": "CPU dua core", "h200": "NVIDIA H200"},
        "tta": "Waktu hingga akurasi {target}",
        "tta_intro": "`python -m d2l_alexnet.bench --time-to-accuracy {target}`: jaringan bab "
                     "ini pada 224×224 dengan seluruh 60.000 gambar pelatihan, dievaluasi "
                     "setiap setengah epoch, dan dihentikan pada evaluasi pertama yang mencapai "
                     "{shown} atau lebih; waktu dihitung sejak perintah dimulai. Satu baris "
                     "untuk setiap catatan di `results/time-to-accuracy/`.",
        "columns": ("backend", "presisi", "resep", "perangkat", "menit hingga {target}",
                    "gambar", "epoch", "akurasi saat itu", "catatan"),
        "plan": "{recipe}, rencana {epochs} epoch", "not_reached": "tidak tercapai",
        "cpu": "CPU, {count} core", "gpu": "GPU",
        "filters": "Apa yang dipelajari lapisan pertama",
        "filters_caption": "Ke-96 filter konvolusi pertama (11×11, satu saluran input: "
                           "gambarnya dalam skala abu-abu) setelah pelatihan penuh seperti di bab, "
                           "masing-masing diskalakan ke rentangnya sendiri. Jaringan itu "
                           "mencapai akurasi validasi {acc} setelah {epoch} epoch "
                           "(`results/first-layer-filters/`).",
        "filters_change_alt": "Apa yang ditambahkan pelatihan pada filter lapisan pertama",
        "filters_change": "Apa yang ditambahkan pelatihan pada ke-96 filter yang sama: "
                          "masing-masing dikurangi awal acaknya, diskalakan dengan cara yang "
                          "sama. Awal acak itu masih menguasai gambar di atas. Gambar "
                          "Fashion-MNIST yang berukuran 28 piksel diperbesar delapan kali, "
                          "sehingga jendela 11×11 dengan stride 4 hanya mencakup kurang dari "
                          "dua piksel aslinya dan melihat petak yang halus; gradien sebuah "
                          "filter adalah jumlah petak semacam itu, jadi hanya bagiannya yang "
                          "halus yang belajar, dan tidak ada apa pun dalam resep bab ini "
                          "(tanpa *weight decay*) yang mengikis awal acak itu. Yang dipelajari "
                          "lapisan itu terlihat di sini: tepi, gradasi kecerahan, dan bercak.",
        "filters_missing": "Bab ini menunjukkan 96 filter yang dipelajari lapisan pertamanya. "
                           "Gambarnya di sini berasal dari kernel lapisan pertama sebuah "
                           "pelatihan penuh seperti di bab, dan pelatihan itu belum tercatat di "
                           "`results/`; gambarnya akan dibuat dari "
                           "`results/first-layer-filters/conv1.safetensors` (hasil "
                           "`{command}`).",
    },
}
# The chapter's full runs whose curves the page shows: (folder, backend, precision, device).
CURVE_RUNS = (("pytorch-bf16", "PyTorch", "bf16", "cpu2"),
              ("tensorflow-bf16", "TensorFlow", "bf16", "cpu2"),
              ("pytorch-fp32-h200", "PyTorch", "fp32", "h200"))
BACKEND_LABELS = dict(FRAMEWORKS)


def duration(seconds, language):
    if seconds < 120:
        return f"{number(seconds, 0, language)} s" if language == "en" else \
            f"{number(seconds, 0, language)} detik"
    return f"{number(seconds / 60, 0, language)} min" if language == "en" else \
        f"{number(seconds / 60, 0, language)} menit"


def time_to_accuracy_rows(folder, language):
    """The table rows of every ``*/time-to-accuracy.json`` in ``folder``, quickest first."""
    text, records = TEXT[language], []
    for path in sorted(Path(folder).glob("*/time-to-accuracy.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        target = record["target"]
        reached = [point for point in record["curve"] if point["val_acc"] >= target]
        device = str(record.get("device", "cpu"))
        machine = record.get("machine", {})
        where = (text["gpu"] if not device.startswith("cpu") else
                 text["cpu"].format(count=machine.get("cpu_count", "?"))
                 + (f" ({machine['processor']})" if machine.get("processor") else ""))
        seconds = record.get("seconds_to_target") if record.get("reached") else None
        records.append((seconds if seconds is not None else float("inf"), target, [
            BACKEND_LABELS.get(record["backend"], record["backend"]),
            record["precision"],
            text["plan"].format(recipe=record.get("recipe_name") or "chapter",
                                epochs=record["max_epochs"]),
            where,
            number(seconds / 60, 1, language) if seconds is not None else text["not_reached"],
            number(reached[0]["images"], 0, language) if reached else "",
            number(reached[0]["epochs"], 1, language) if reached else "",
            number(reached[0]["val_acc"], 4, language) if reached else "",
            f"`{path.parent.name}`"]))
    records.sort(key=lambda row: row[0])
    return records


def results_markdown(results, assets, language):
    """The "Measured runs" section; prints a note when the filters' kernel is not recorded."""
    results, text = Path(results), TEXT[language]
    blocks = [f"## {text['title']}", text["intro"], "$$\n" + text["formula"] + "\n$$",
              f"### {text['curves']}"]
    for folder, backend, precision, device in CURVE_RUNS:
        metrics_path, curves = results / folder / "metrics.json", results / folder / "curves.png"
        if not (metrics_path.is_file() and curves.is_file()):
            raise BookError(f"{results / folder} lacks metrics.json or curves.png: the page "
                            "shows every run of CURVE_RUNS in tools/build_book.py")
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        caption = text["curve"].format(
            backend=backend, precision=precision, device=text["devices"][device],
            acc=number(metrics[-1]["val_acc"], 4, language), folder=folder,
            time=duration(sum(epoch["seconds"] for epoch in metrics), language))
        path = assets.png(curves.read_bytes(), f"curves-{folder}")
        blocks.append(directive("figure", path, [("alt", caption.split(":")[0])], caption))
    rows = time_to_accuracy_rows(results / "time-to-accuracy", language)
    if rows:
        target = number(rows[0][1], 2, language)
        blocks += [f"### {text['tta'].format(target=target)}",
                   text["tta_intro"].format(target=rows[0][1], shown=target)]
        header = [column.format(target=target) for column in text["columns"]]
        table = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * 3 + ["---"] + ["--:"] * 4 + ["---"]) + "|"]
        table += ["| " + " | ".join(cells) + " |" for _, _, cells in rows]
        blocks.append("\n".join(table))
    blocks.append(f"### {text['filters']}")
    kernel_path = results / FILTERS_KERNEL
    if kernel_path.is_file():
        from d2l_alexnet.core.filters import (FiltersError, kernel_change, read_kernel,
                                              save_filters_png)

        # The run's own record beside the kernel says which network the filters come from.
        run_metrics = kernel_path.parent / "metrics.json"
        if not run_metrics.is_file():
            raise BookError(f"{kernel_path.parent} lacks metrics.json: keep the metrics.json of "
                            "the run whose weights gave the kernel beside it")
        last = json.loads(run_metrics.read_text(encoding="utf-8"))[-1]
        kernel, change = read_kernel(kernel_path), None
        start_path = results / FILTERS_START
        if start_path.is_file():  # checked before either figure is written
            try:
                change = kernel_change(kernel, read_kernel(start_path), str(start_path))
            except FiltersError as error:
                raise BookError(f"{error} (the kernel is {kernel_path})") from None
        path, link = assets.path("first-layer-filters")
        save_filters_png(kernel, path)
        caption = text["filters_caption"].format(acc=number(last["val_acc"], 4, language),
                                                 epoch=last["epoch"])
        blocks.append(directive("figure", link, [("alt", text["filters"])], caption))
        if change is not None:
            path, link = assets.path("first-layer-filters-change")
            save_filters_png(change, path)
            blocks.append(directive("figure", link, [("alt", text["filters_change_alt"])],
                                    text["filters_change"]))
    else:
        blocks.append(text["filters_missing"].format(command=FILTERS_COMMAND))
    return "\n\n".join(blocks)


# ---- writing the pages and running Sphinx ---------------------------------------------------
def read_notebook(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BookError(f"cannot read the executed notebook {path} ({error}): run it again")


def write_sources(executed, results, source_dir, language):
    """Write ``index.md`` (the chapter and the measured runs) and ``lesson.md`` for a
    language; returns whether the filters' kernel was there."""
    folder = Path(executed) / LANGUAGES[language]
    notebooks = {framework: read_notebook(folder / f"alexnet-{framework}.ipynb")
                 for framework, _ in FRAMEWORKS
                 if (folder / f"alexnet-{framework}.ipynb").is_file()}
    if not notebooks:
        raise BookError(f"no executed notebooks in {folder}: run tools/run_notebooks.py "
                        f"--executed-dir {executed} first (or make book)")
    if source_dir.exists():
        shutil.rmtree(source_dir)
    source_dir.mkdir(parents=True)
    assets = Assets(source_dir / "outputs")
    other = "id" if language == "en" else "en"
    text = TEXT[language]
    chapter = chapter_markdown(notebooks, assets, language)
    switch = f'<a class="edition-link" href="../{other}/index.html">{text["other"]}</a>'
    index = [chapter, results_markdown(results, assets, language)]
    lesson_path = folder / LESSON
    pages = ["lesson"] if lesson_path.is_file() else []
    if language == "en":  # the API reference, from the docstrings, which are in English
        shutil.copyfile(ROOT / "book" / "api.md", source_dir / "api.md")
        pages.append("api")
        index.append(f"[{text['api']}](api.md)")
    else:
        index.append(f'<a class="api-link" href="../en/api.html">{text["api"]}</a>')
    if pages:
        index.append(directive("toctree", "", [("hidden", "")], "\n".join(pages)))
    if lesson_path.is_file():
        lesson = lesson_markdown(read_notebook(lesson_path), assets, language)
        (source_dir / "lesson.md").write_text(switch.replace("index.html", "lesson.html")
                                              + "\n\n" + lesson + "\n", encoding="utf-8")
    source_dir.mkdir(parents=True, exist_ok=True)
    (source_dir / "index.md").write_text(switch + "\n\n" + "\n\n".join(index) + "\n",
                                         encoding="utf-8")
    return (Path(results) / FILTERS_KERNEL).is_file()


def run_sphinx(source_dir, html_dir, language, quiet):
    env = dict(os.environ, D2L_ALEXNET_BOOK_LANGUAGE=language)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(ROOT / "book"),
               "-d", str(Path(html_dir).parent / ".doctrees" / language), "-E",
               str(source_dir), str(html_dir)] + (["-q"] if quiet else [])
    return subprocess.run(command, env=env).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", type=Path, required=True,
                        help="the executed notebooks, laid out as notebooks/ is")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book",
                        help="where src/ and html/ go (default build/book)")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--language", nargs="+", choices=tuple(LANGUAGES),
                        default=list(LANGUAGES))
    parser.add_argument("--sources-only", action="store_true",
                        help="write the MyST sources, do not run Sphinx")
    parser.add_argument("--quiet", action="store_true", help="Sphinx's -q")
    args = parser.parse_args(argv)
    if not args.sources_only:
        try:
            import myst_parser  # noqa: F401
            import sphinx  # noqa: F401
            import sphinx_design  # noqa: F401
        except ImportError as error:
            print(f"error: {error.name} is missing: pip install -e '.[docs]' (make setup "
                  "installs it)", file=sys.stderr)
            return 2
    failed = []
    for language in args.language:
        source_dir = args.out / "src" / language
        try:
            has_filters = write_sources(args.executed, args.results, source_dir, language)
        except BookError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not has_filters and language == args.language[0]:
            print(f"note: the page has no filters figure until "
                  f"results/{FILTERS_KERNEL.as_posix()} is recorded: {FILTERS_COMMAND}")
        if not args.sources_only:
            html_dir = args.out / "html" / language
            if run_sphinx(source_dir, html_dir, language, args.quiet) != 0:
                failed.append(language)
            else:
                print(f"{language}: {html_dir / 'index.html'}")
    if failed:
        print(f"error: Sphinx failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
