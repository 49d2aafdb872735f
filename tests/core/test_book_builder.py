"""tools/build_book.py without Sphinx: how the framework notebooks merge into one page, how
outputs read, and the measured-runs section (tests/book/test_page.py builds and opens it)."""

import base64
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from d2l_alexnet.core.weights import save_safetensors

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n not really").decode()


def markdown(cell_id, text):
    return {"id": cell_id, "cell_type": "markdown", "source": text}


def code(cell_id, text, outputs=()):
    return {"id": cell_id, "cell_type": "code", "source": text, "outputs": list(outputs)}


def stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def test_merged_order_keeps_every_notebooks_order_and_places_missing_cells():
    order = book.merged_order([["a", "b", "d"], ["a", "c", "d"], ["b", "e"]])
    for ids in (["a", "b", "d"], ["a", "c", "d"], ["b", "e"]):
        assert [cell for cell in order if cell in ids] == ids
    assert sorted(order) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("headings, shared", [
    ({"PyTorch": "Training", "JAX": "Training"}, "Training"),
    ({"PyTorch": "AlexNet: deep networks, with PyTorch",
      "JAX": "AlexNet: deep networks, with JAX"}, "AlexNet: deep networks"),
    ({"PyTorch": "AlexNet versi buku dalam PyTorch", "MXNet": "AlexNet versi buku dalam MXNet"},
     "AlexNet versi buku"),
    ({"PyTorch": "Training", "JAX": "Fitting"}, None),
])
def test_shared_heading_takes_the_framework_name_out(headings, shared):
    assert book.shared_heading(headings) == shared


def test_streams_read_as_last_printed_without_colours_or_overwritten_bars():
    assert book.clean_stream("\x1b[31mred\x1b[0m\n\r 10%|#\r 50%|##\r100%|###\nend\n") == \
        "red\n100%|###\nend"


def test_outputs_hold_a_progress_bar_until_its_last_state_and_keep_figures(tmp_path):
    cell = code("train", "fit()", [
        stream("training\n"), stream("\repoch 1:  40%", "stderr"),
        {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}},
        stream("\repoch 1: 100%", "stderr"), stream("val_acc 0.70\n"),
        {"output_type": "display_data", "data": {book.WIDGET: {}, "text/plain": "HBox()"}},
        {"output_type": "execute_result", "data": {"text/markdown": "| a |\n|---|\n| 1 |",
                                                   "text/plain": "<Markdown>"}},
    ])
    parts = book.outputs_markdown(cell, book.Assets(tmp_path / "outputs"), "pytorch-train", "alt")
    # stdout and stderr in one block in their order: the bar's last state, then the line
    # printed after it (each stream in a block of its own put every bar before every line).
    assert parts == ["```text\ntraining\n```", "![alt](outputs/pytorch-train-2.png)",
                     "```text\nepoch 1: 100%\nval_acc 0.70\n```", "| a |\n|---|\n| 1 |"]
    assert (tmp_path / "outputs" / "pytorch-train-2.png").read_bytes().startswith(b"\x89PNG")


def test_a_notebook_stopped_at_an_error_is_refused(tmp_path):
    cell = code("train", "fit()", [{"output_type": "error", "ename": "ValueError",
                                    "evalue": "bad", "traceback": []}])
    with pytest.raises(book.BookError, match="stopped at an error in cell pytorch-train"):
        book.outputs_markdown(cell, book.Assets(tmp_path), "pytorch-train", "alt")


def test_chapter_merges_frameworks_with_shared_text_once_and_synced_tabs(tmp_path):
    notebooks = {  # TensorFlow first: the page still puts PyTorch first, as d2l.ai does
        "tensorflow": {"cells": [
            markdown("title", "# AlexNet, with TensorFlow\n\nRuns with TensorFlow."),
            markdown("why", "## Why 2012?\n\nData and hardware."),
            code("imports", "import tensorflow as tf", [stream("2.21\n")]),
            markdown("tf-only", "Keras builds lazily.")]},
        "pytorch": {"cells": [
            markdown("title", "# AlexNet, with PyTorch\n\nRuns with PyTorch."),
            markdown("why", "## Why 2012?\n\nData and hardware."),
            code("imports", "%matplotlib inline\nimport torch")]},
    }
    page = book.chapter_markdown(notebooks, book.Assets(tmp_path), "en")
    assert page.startswith("# AlexNet\n\n")
    assert page.count("## Why 2012?\n\nData and hardware.") == 1
    assert page.count("{tab-set}") == 3 and page.count(":sync-group: framework") == 3
    tabs = page.split("{tab-set}")
    assert tabs[1].index(":sync: pytorch") < tabs[1].index(":sync: tensorflow")
    assert "```ipython3\n%matplotlib inline\nimport torch\n```" in tabs[2]
    assert "```python\nimport tensorflow as tf\n```\n\n```text\n2.21\n```" in tabs[2]
    assert ":sync: tensorflow" in tabs[3] and ":sync: pytorch" not in tabs[3]


def test_directives_nest_with_longer_fences():
    inner = book.tab_set([("jax", "JAX", "text")])
    outer = book.directive("note", "", [], inner)
    assert inner.startswith("::::{tab-set}") and outer.startswith(":::::{note}")
    assert outer.endswith("\n:::::")


def write_results(folder, with_kernel):
    for name in ("pytorch-bf16", "tensorflow-bf16", "pytorch-fp32-h200"):
        (folder / name).mkdir(parents=True)
        (folder / name / "metrics.json").write_text(json.dumps(
            [{"epoch": 1, "val_acc": 0.5, "seconds": 3000.0},
             {"epoch": 2, "val_acc": 0.8824, "seconds": 1000.0}]))
        (folder / name / "curves.png").write_bytes(b"\x89PNG curves")
    runs = {"slow": (True, 7000.0, 0.8870), "quick": (True, 60.0, 0.8928),
            "never": (False, None, 0.85)}
    for name, (reached, seconds, accuracy) in runs.items():
        (folder / "time-to-accuracy" / name).mkdir(parents=True)
        (folder / "time-to-accuracy" / name / "time-to-accuracy.json").write_text(json.dumps({
            "backend": "jax", "device": "cpu" if name != "quick" else "cuda:0",
            "precision": "bf16", "target": 0.88, "reached": reached,
            "seconds_to_target": seconds, "recipe_name": "fast", "max_epochs": 2,
            "machine": {"cpu_count": 2, "processor": "AMD EPYC"},
            "curve": [{"images": 90080, "epochs": 1.5013, "val_acc": accuracy}]}))
    if with_kernel:
        (folder / "first-layer-filters").mkdir()
        save_safetensors(folder / "first-layer-filters" / "conv1.safetensors",
                         {"conv1.weight": np.random.default_rng(0).normal(
                             size=(96, 1, 11, 11))})
        (folder / "first-layer-filters" / "metrics.json").write_text(json.dumps(
            [{"epoch": 9, "val_acc": 0.8608}, {"epoch": 10, "val_acc": 0.8871}]))
        save_safetensors(folder / "first-layer-filters" / "conv1-initial.safetensors",
                         {"conv1.weight": np.random.default_rng(1).normal(
                             size=(96, 1, 11, 11))})


def test_measured_runs_table_curves_and_missing_filters(tmp_path):
    write_results(tmp_path / "results", with_kernel=False)
    section = book.results_markdown(tmp_path / "results", book.Assets(tmp_path / "out"), "en")
    assert section.startswith("## Measured runs") and "$$\n\\mathrm{accuracy}" in section
    assert "validation accuracy 0.8824 after the 10th epoch, 67 min" in section
    rows = [line for line in section.splitlines() if line.startswith("| JAX")]
    assert [row.split(" | ")[-1] for row in rows] == ["`quick` |", "`slow` |", "`never` |"]
    assert rows[0].startswith("| JAX | bf16 | fast, 2-epoch plan | GPU | 1.0 | 90,080 | 1.5 |")
    assert "CPU, 2 cores (AMD EPYC) | 116.7 |" in rows[1] and "not reached" in rows[2]
    assert "not yet recorded" in section and book.FILTERS_COMMAND in section
    assert len(list((tmp_path / "out").glob("curves-*.png"))) == 3


def test_indonesian_section_and_recorded_filters_figure(tmp_path):
    write_results(tmp_path / "results", with_kernel=True)
    section = book.results_markdown(tmp_path / "results", book.Assets(tmp_path / "out"), "id")
    assert "## Hasil pelatihan penuh yang terukur" in section
    assert "akurasi validasi 0,8824" in section and "| 1,0 | 90.080 | 1,5 |" in section
    assert "outputs/first-layer-filters.png" not in section  # the folder is named out here
    assert "out/first-layer-filters.png" in section
    assert (tmp_path / "out" / "first-layer-filters.png").read_bytes().startswith(b"\x89PNG")
    assert "belum tercatat" not in section
    # The caption names the run the kernel came from, by its own last epoch.
    assert "mencapai akurasi validasi 0,8871 setelah 10 epoch" in section
    # With the run's start kept too, a second figure shows what training added.
    change = tmp_path / "out" / "first-layer-filters-change.png"
    assert "out/first-layer-filters-change.png" in section and "awal acaknya" in section
    assert change.read_bytes() != (tmp_path / "out" / "first-layer-filters.png").read_bytes()


def test_without_the_run_s_start_only_the_kernel_is_drawn(tmp_path):
    write_results(tmp_path / "results", with_kernel=True)
    (tmp_path / "results" / "first-layer-filters" / "conv1-initial.safetensors").unlink()
    section = book.results_markdown(tmp_path / "results", book.Assets(tmp_path / "out"), "en")
    assert "out/first-layer-filters.png" in section and "random start" not in section
    assert not (tmp_path / "out" / "first-layer-filters-change.png").exists()


def test_a_start_of_another_shape_stops_the_build_in_one_line(tmp_path):
    write_results(tmp_path / "results", with_kernel=True)
    save_safetensors(tmp_path / "results" / "first-layer-filters" / "conv1-initial.safetensors",
                     {"conv1.weight": np.ones((96, 3, 11, 11))})
    with pytest.raises(book.BookError, match=r"has shape \(96, 3, 11, 11\)"):
        book.results_markdown(tmp_path / "results", book.Assets(tmp_path / "out"), "en")
    assert not (tmp_path / "out" / "first-layer-filters.png").exists()


def test_a_kernel_without_its_run_s_metrics_stops_the_build(tmp_path):
    write_results(tmp_path / "results", with_kernel=True)
    (tmp_path / "results" / "first-layer-filters" / "metrics.json").unlink()
    with pytest.raises(book.BookError, match="lacks metrics.json"):
        book.results_markdown(tmp_path / "results", book.Assets(tmp_path / "out"), "en")
    assert not (tmp_path / "out" / "first-layer-filters.png").exists()


def test_without_executed_notebooks_the_build_stops_in_one_line(tmp_path, capsys):
    assert book.main(["--executed", str(tmp_path), "--out", str(tmp_path / "out"),
                      "--sources-only"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no executed notebooks in") and error.count("\n") == 1


def test_sources_of_the_committed_notebooks(tmp_path):
    """The page's sources from the notebooks as committed (no outputs): every code cell in a
    tab set, the lesson a page of its own, each edition linking to the other."""
    assert book.main(["--executed", str(ROOT / "notebooks"), "--out", str(tmp_path / "out"),
                      "--sources-only"]) == 0
    for language, other in (("en", "id"), ("id", "en")):
        page = (tmp_path / "out" / "src" / language / "index.md").read_text(encoding="utf-8")
        assert page.startswith(f'<a class="edition-link" href="../{other}/index.html">')
        assert page.split("\n")[2].startswith("# ")  # the title, shared by the frameworks
        assert "{tab-set}" in page and "## " in page
        assert (tmp_path / "out" / "src" / language / "lesson.md").is_file()


def test_ci_saves_the_notebooks_it_runs_and_then_tests_the_page_built_from_them():
    spec = importlib.util.spec_from_file_location("run_tests", ROOT / "tools" / "run_tests.py")
    run_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_tests)
    suites = list(run_tests.suites("py", "mxpy"))
    notebooks = [name for name, command, _, _ in suites if name.startswith("notebooks")]
    for name, command, _, _ in suites:
        if name.startswith("notebooks"):
            assert command[command.index("--executed-dir") + 1] == str(Path("build/executed"))
    name, command, _, after = suites[-1]
    assert name == "book" and command[-1] == "tests/book"
    assert set(after) == set(notebooks) and len(notebooks) == 3  # it waits for all of them
    assert "book" not in [name for name, *_ in run_tests.suites("py", "mxpy", False)]
