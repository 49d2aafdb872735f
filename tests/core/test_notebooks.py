"""The chapter's notebooks, checked without running them (``tools/run_notebooks.py`` runs them).

They are built from the Markdown sources in ``chapter/`` by ``tools/build_notebooks.py`` and
committed without outputs; every notebook has the papermill ``parameters`` cell, the credit to
the book and its licence, the book's AlexNet as static code equal to ``BookAlexNet``'s, and a
reference list; the Indonesian edition shares the code of every cell with the English one (but
for comments and printed words) and differs in every prose cell. Also the framework-free
helpers they display (``d2l_alexnet.core.notebook``).
"""

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from d2l_alexnet.core.architecture import ALEXNET, layer_table, parameter_count
from d2l_alexnet.core.notebook import (LENET, QUICK_ENV, comparison_table, describe_table,
                                       mode_name, resolve_mode)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BACKENDS = {"pytorch": "torch", "tensorflow": "tensorflow", "jax": "jax", "mxnet": "mxnet"}
GPU_CHECKS = {"pytorch": "torch.cuda.is_available()",
              "tensorflow": 'tf.config.list_physical_devices("GPU")',
              "jax": "jax.devices()",
              "mxnet": "mx.context.num_gpus()"}


@pytest.fixture(scope="module")
def generator():
    pytest.importorskip("jupytext")
    return load_tool("build_notebooks")


def committed(backend, language):
    path = NOTEBOOKS / (f"alexnet-{backend}.ipynb" if language == "en"
                        else f"{language}/alexnet-{backend}.ipynb")
    assert path.is_file(), f"{path} is missing: run python tools/build_notebooks.py"
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"])


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def as_python(cell):
    """A code cell's source with IPython's line magics (``%matplotlib inline``) left out."""
    return "\n".join(line for line in source(cell).splitlines() if not line.startswith("%"))


ALL = [(backend, language) for backend in BACKENDS for language in ("en", "id")]


def test_committed_notebooks_are_what_the_sources_give(generator):
    generated = generator.generate()
    assert len(generated) == 10
    for path, text in generated.items():
        assert path.is_file(), f"{path} is missing: run python tools/build_notebooks.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} differs from what its source in chapter/ gives: edit the "
            "source, not the notebook, and run python tools/build_notebooks.py")
    found = {path for path in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts}
    assert found == set(generated), "notebooks/ holds notebooks the script does not generate"


def test_generation_is_deterministic(generator):
    assert generator.generate() == generator.generate()


@pytest.mark.parametrize("backend,language", ALL)
def test_notebooks_are_committed_without_outputs(backend, language):
    notebook = committed(backend, language)
    for cell in code_cells(notebook):
        assert cell["outputs"] == [], f"cell {cell['id']} has outputs"
        assert cell["execution_count"] is None, f"cell {cell['id']} has an execution count"
    assert notebook["metadata"]["d2l_alexnet"] == {"backend": backend, "language": language}


@pytest.mark.parametrize("backend,language", ALL)
def test_every_notebook_has_the_parameters_cell(backend, language):
    cells = committed(backend, language)["cells"]
    tagged = [cell for cell in cells if "parameters" in cell["metadata"].get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    cell = tagged[0]
    assert cell["cell_type"] == "code"
    assert cell is code_cells({"cells": cells})[0], "the parameters come before any other code"
    assignments = {node.targets[0].id: node.value for node in ast.parse(as_python(cell)).body
                   if isinstance(node, ast.Assign)}
    assert isinstance(assignments.get("QUICK"), ast.Constant)
    assert assignments["QUICK"].value is None, "QUICK = None (decide from the GPU) by default"


class _BlankStrings(ast.NodeTransformer):
    """Every string constant (a comment is not in the tree at all) becomes the same blank."""

    def visit_Constant(self, node):
        return ast.Constant("") if isinstance(node.value, str) else node


def code_shape(cell):
    """A code cell's syntax tree with its strings blanked: what both editions must share."""
    return ast.dump(_BlankStrings().visit(ast.parse(as_python(cell))))


def comments(cell):
    return [line.split("#", 1)[1].strip() for line in as_python(cell).splitlines()
            if "#" in line and not line.lstrip().startswith(("'", '"'))]


# The Indonesian edition of the chapter says these (../shared/CHAPTER.md counts them), never the
# words on the right, and keeps "weights" as one word: parameter.
CHAPTER_TERMS = ("jaringan neural", "saluran", "fully connected", "input", "output",
                 "prapemrosesan", "laju pembelajaran", "parameter")
AVOIDED = ("jaringan saraf", "kanal", "lapisan padat", "masukan", "keluaran", "praproses ",
           "bobot", "membuat namanya dikenal", "mengenai setiap", "lebih sedikit bergantung")


@pytest.mark.parametrize("backend", BACKENDS)
def test_indonesian_edition_shares_the_code_and_rewrites_the_prose(backend):
    english, indonesian = committed(backend, "en"), committed(backend, "id")
    assert [(cell["cell_type"], cell["id"]) for cell in english["cells"]] == \
        [(cell["cell_type"], cell["id"]) for cell in indonesian["cells"]]
    for ours, theirs in zip(english["cells"], indonesian["cells"]):
        if ours["cell_type"] == "code":
            assert ours["metadata"] == theirs["metadata"]
            assert code_shape(ours) == code_shape(theirs), (
                f"code cell {ours['id']} differs between the editions beyond its comments and "
                "printed labels")
            # Every English comment has an Indonesian one in its place.
            assert len(comments(ours)) == len(comments(theirs)), ours["id"]
            assert not set(comments(ours)) & set(comments(theirs)), (
                f"code cell {ours['id']} keeps English comments in the Indonesian edition")
        else:
            assert source(ours) != source(theirs), f"prose cell {ours['id']} is not translated"
    prose = " ".join(source(cell) for cell in indonesian["cells"])
    for term in CHAPTER_TERMS:
        assert term in prose, term
    for avoided in AVOIDED:
        assert avoided not in prose.lower(), avoided
    glossary = next(source(cell) for cell in indonesian["cells"]
                    if source(cell).startswith("## Glosarium"))
    assert "| channel | saluran |" in glossary


def test_indonesian_code_prints_indonesian_labels():
    english, indonesian = committed("pytorch", "en"), committed("pytorch", "id")
    code = "\n".join(source(cell) for cell in code_cells(indonesian))
    assert "gambar latih" in code and "training images" not in code
    assert "diklasifikasikan dengan benar" in code and 'language="id"' in code
    assert 'language="en"' not in code and "classified correctly" not in code
    # Numbers are printed as the edition writes them (4.096, 0,8824): through number(), after
    # set_language("id"), which the Trainer's and data modules' own lines follow too.
    assert 'set_language("id")' in code and not re.search(r":,|:\.\df}", code)
    assert 'set_language("en")' in "\n".join(source(cell) for cell in code_cells(english))
    assert "classified correctly" in "\n".join(source(cell) for cell in code_cells(english))


@pytest.mark.parametrize("backend,language", ALL)
def test_code_cells_are_python_and_import_their_own_backend(backend, language):
    notebook = committed(backend, language)
    for cell in code_cells(notebook):
        ast.parse(as_python(cell))  # a SyntaxError fails the test
    code = "\n".join(source(cell) for cell in code_cells(notebook))
    assert f"from d2l_alexnet import {BACKENDS[backend]} as d2l" in code
    assert GPU_CHECKS[backend] in code, "GPU detection must use the backend's own API"
    others = set(BACKENDS.values()) - {BACKENDS[backend]}
    assert not any(f"from d2l_alexnet import {other} as" in code for other in others)


def defined_names(module_path):
    """Top-level names a module defines, read from its source (its framework is not imported)."""
    names = set()
    for node in ast.parse(module_path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


@pytest.mark.parametrize("backend", BACKENDS)
def test_notebooks_use_only_names_their_backend_defines(backend):
    path = ROOT / "d2l_alexnet" / f"{BACKENDS[backend]}.py"
    if not path.is_file():  # a backend that became a subpackage
        path = ROOT / "d2l_alexnet" / BACKENDS[backend] / "__init__.py"
    defined = defined_names(path)
    code = "\n".join(source(cell) for cell in code_cells(committed(backend, "en")))
    used = set(re.findall(r"\bd2l\.(\w+)", code))
    assert used, "the notebook uses the backend module"
    assert used <= defined, f"{path.name} does not define {sorted(used - defined)}"


def test_notebooks_are_valid_nbformat():
    nbformat = pytest.importorskip("nbformat")
    for path in sorted(NOTEBOOKS.rglob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
        # Laid out exactly as nbformat writes it: saving from Jupyter changes nothing.
        assert nbformat.writes(notebook) + "\n" == text, path


# ---- the helpers the notebooks display ---------------------------------------------------------

def test_lenet_is_measured_like_alexnet():
    rows = describe_table(LENET, 28)
    assert [shape for _, shape, _ in rows][:3] == [(6, 28, 28), (6, 28, 28), (6, 14, 14)]
    assert rows[6][1] == (400,)  # 16×5×5 flattened
    assert sum(parameters for _, _, parameters in rows) == 61_706  # LeNet-5 of sec_lenet
    assert [row[1] for row in describe_table(ALEXNET, 224)] == \
        [row.output_shape for row in layer_table(224)]


def test_comparison_table_pairs_the_two_networks():
    lines = comparison_table().splitlines()
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines)
    assert all(line.count(" | ") == 5 for line in lines), "six columns in every row"
    first_conv = next(line for line in lines if "Conv 6, 5×5" in line)
    assert "Conv 96, 11×11, stride 4 + ReLU" in first_conv
    output = [line for line in lines if line.startswith("| Dense 10 |")]
    assert len(output) == 1 and "| Dense 10 | 10 | 40,970 |" in output[0]
    assert "Dense 4,096 + ReLU + dropout 0.5" in comparison_table()
    assert f"**{parameter_count():,}**" in lines[-1] and "**61,706**" in lines[-1]
    # The three extra convolutions and the third pooling have no LeNet counterpart.
    assert sum(line.startswith("|  |  |  | ") for line in lines) == 4


def test_comparison_table_follows_the_input_size():
    assert "1×227×227" in comparison_table(resize=227)
    with pytest.raises(ValueError, match="too small"):
        comparison_table(resize=32)


@pytest.mark.parametrize("quick,gpu,expected", [
    (None, True, "full"), (None, False, "quick"), (True, True, "quick"), (False, False, "full")])
def test_resolve_mode_without_the_environment_variable(quick, gpu, expected):
    chosen, reason = resolve_mode(quick, gpu, environ={})
    assert chosen == expected and reason


def test_resolve_mode_environment_variable_wins():
    assert resolve_mode(False, True, environ={QUICK_ENV: "1"}) == ("quick", f"{QUICK_ENV}=1")
    assert resolve_mode(None, False, environ={QUICK_ENV: "0"}) == ("full", f"{QUICK_ENV}=0")
    assert resolve_mode(True, False, environ={QUICK_ENV: "smoke"}) == (
        "smoke", f"{QUICK_ENV}=smoke")
    assert resolve_mode(None, False, environ={QUICK_ENV: ""})[0] == "quick"  # empty: unset
    with pytest.raises(ValueError, match=QUICK_ENV):
        resolve_mode(None, False, environ={QUICK_ENV: "yes"})
    with pytest.raises(ValueError, match="QUICK"):
        resolve_mode("yes", False, environ={})


def test_the_notebook_helpers_import_no_framework():
    code = ("import sys, d2l_alexnet.core.notebook\n"
            "print(sorted(name for name in ('torch', 'tensorflow', 'jax', 'flax', 'mxnet', "
            "'keras', 'IPython') if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def lesson(language):
    path = NOTEBOOKS / ("" if language == "en" else language) / "alexnet-in-another-lesson.ipynb"
    assert path.is_file(), f"{path} is missing: run python tools/build_notebooks.py"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_lesson_notebook_runs_any_backend_and_has_both_editions():
    english, indonesian = lesson("en"), lesson("id")
    for notebook in (english, indonesian):
        for cell in code_cells(notebook):
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["id"]
            ast.parse(as_python(cell))
        first = code_cells(notebook)[0]
        assert first["metadata"] == {"tags": ["parameters"]}
        assert as_python(first).strip().endswith('BACKEND = "pytorch"')
    assert [cell["id"] for cell in english["cells"]] == [cell["id"] for cell in indonesian["cells"]]
    for ours, theirs in zip(english["cells"], indonesian["cells"]):
        if ours["cell_type"] == "markdown":
            assert source(ours) != source(theirs), f"prose cell {ours['id']} is not translated"
        else:
            assert code_shape(ours) == code_shape(theirs), ours["id"]
            assert len(comments(ours)) == len(comments(theirs)), ours["id"]
            assert not set(comments(ours)) & set(comments(theirs)), ours["id"]
    code = "\n".join(source(cell) for cell in code_cells(english))
    for call in ("d2l.ImageFolder(", "in_channels=", ".predict(", ".features(",
                 "skip_head=True", "d2l.DataModule"):
        assert call in code, call
    prose = " ".join(source(cell) for cell in indonesian["cells"]
                     if cell["cell_type"] == "markdown")
    for term in ("saluran", "jaringan", "fully connected", "input"):  # the chapter's own terms
        assert term in prose, term
    for avoided in ("kanal", "masukan", "keluaran", "lapisan padat", "jaringan saraf"):
        assert avoided not in prose, avoided


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quick_runs_accuracy_is_read_from_the_last_epoch_printed():
    nbformat = pytest.importorskip("nbformat")
    run_notebooks = load_tool("run_notebooks")

    def stream(text):
        return {"output_type": "stream", "name": "stdout", "text": text}

    notebook = nbformat.from_dict({"cells": [
        {"cell_type": "markdown", "source": "val_acc 0.99 in the prose is not an output"},
        {"cell_type": "code", "outputs": [stream(
            "epoch 1/3: train_loss 2.19  val_loss 1.55  val_acc 0.3408  205.4 s\n"
            "epoch 3/3: train_loss 1.00  val_loss 0.82  val_acc 0.7100  208.1 s\n")]},
        {"cell_type": "code", "outputs": [stream("19 of 32 images classified correctly\n")]}]})
    assert run_notebooks.last_val_acc(notebook) == 0.71
    assert run_notebooks.last_val_acc(nbformat.from_dict({"cells": []})) is None
    # The Indonesian edition's line, with its decimal comma.
    indonesian = nbformat.from_dict({"cells": [{"cell_type": "code", "outputs": [stream(
        "epoch 3/3: train_loss 1,0000  val_loss 0,8200  val_acc 0,6875  8,1 s  12,8 gambar/s\n"
    )]}]})
    assert run_notebooks.last_val_acc(indonesian) == 0.6875


def test_a_notebook_that_leaves_files_in_the_temporary_directory_fails(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebooks = {
        "leaves.ipynb": 'import tempfile\n'
                        'open(tempfile.mkdtemp() + "/weights.bin", "wb").write(b"w")',
        "cleans.ipynb": 'import os, tempfile\nscratch = tempfile.TemporaryDirectory()\n'
                        'open(scratch.name + "/weights.bin", "wb").write(b"w")\n'
                        # an empty directory is no leak (PyTorch's optimizers make one)
                        'os.mkdir(os.path.join(tempfile.gettempdir(), "cache"))'}
    for name, code in notebooks.items():
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]),
                       tmp_path / name)
    outer = tmp_path / "tmp"  # the runner's own temporary directory
    outer.mkdir()
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--mode",
                          "smoke", *(str(tmp_path / name) for name in notebooks)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TMPDIR": str(outer)})
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(r"error: the notebook left tmp\w+/weights\.bin in", run.stdout)
    assert "leaves.ipynb: FAILED" in run.stdout
    assert "cleans.ipynb: passed" in run.stdout
    assert list(outer.iterdir()) == []  # the kernel's directory is removed either way


def test_ci_smokes_every_notebook_and_make_notebooks_holds_the_quick_run_to_an_accuracy():
    run_tests, run_notebooks = load_tool("run_tests"), load_tool("run_notebooks")
    commands = {name: command for name, command, _, _ in run_tests.suites("py", "mxpy")}
    executed = {}
    for name, command in commands.items():
        if "tools/run_notebooks.py" in command:
            assert command[command.index("--mode") + 1] == "smoke", name
            backends = command[command.index("--backend") + 1:command.index("--language")]
            languages = command[command.index("--language") + 1:command.index("--executed-dir")]
            for backend in backends:
                executed.setdefault(backend, set()).update(languages)
    assert executed == {backend: {"en", "id"} for backend in run_notebooks.BACKENDS}
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\nnotebooks: setup"):makefile.index("\nnotebooks-generate")]
    quick_runs = [line for line in recipe.splitlines() if "run_notebooks.py" in line]
    assert len(quick_runs) == 2 and all("--mode" not in line for line in quick_runs)  # quick
    assert all(float(line.split("--min-val-acc ")[1].split()[0].rstrip(";")) >= 0.3
               for line in quick_runs)  # 3× chance, at least


def final_metrics(model):
    path = ROOT / "results" / "slim-28" / model / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("language", ["en", "id"])
def test_the_exercise_hints_quote_the_measured_exercise_runs(language):
    """Exercises 4, 5 and 7 quote learning rates and accuracies from ``results/slim-28/``:
    they must be the ones its metrics hold and the ones ``RECIPES`` trains with."""
    from d2l_alexnet.core.exercises import RECIPES

    def number(value, digits):
        text = f"{value:,.{digits}f}" if digits else f"{value:,}"
        return text if language == "en" else text.replace(",", "_").replace(".", ",") \
            .replace("_", ".")

    heading = {"en": "## Exercises", "id": "## Latihan"}[language]
    hints = next(source(cell) for cell in committed("pytorch", language)["cells"]
                 if source(cell).startswith(heading))
    for model in ("lenet", "lenet-relu-dropout", "slim-28"):
        metrics = final_metrics(model)
        assert metrics["lr"] == RECIPES[model].lr
        assert f"lr={RECIPES[model].lr}" in hints, model
        assert number(metrics["history"][-1]["val_acc"], 4) in hints, model
    assert number(final_metrics("slim-28")["parameters"], 0) in hints
    assert "layers=SLIM_28, resize=28, lr=0.5" in hints


# ---- the sources, their credit and the book's code ----------------------------------------------

LESSON = {language: (NOTEBOOKS if language == "en" else NOTEBOOKS / language)
          / "alexnet-in-another-lesson.ipynb" for language in ("en", "id")}
EVERY_NOTEBOOK = [*[(backend, language) for backend, language in ALL],
                  *[(None, language) for language in LESSON]]


def notebook_of(backend, language):
    if backend is None:
        return json.loads(LESSON[language].read_text(encoding="utf-8"))
    return committed(backend, language)


def prose_of(notebook):
    return "\n".join(source(cell) for cell in notebook["cells"] if cell["cell_type"] == "markdown")


@pytest.mark.parametrize("backend,language", EVERY_NOTEBOOK)
def test_every_notebook_credits_the_book_and_its_licence(backend, language):
    notebook = notebook_of(backend, language)
    credit = next(source(cell) for cell in notebook["cells"][:3] if "Credit" in source(cell)
                  or "Kredit" in source(cell))
    for needed in ("Aston Zhang", "Zachary C. Lipton", "Mu Li", "Alexander J. Smola",
                   "*Dive into Deep Learning*", "CC BY-SA 4.0", "MIT-0",
                   "https://d2l.ai/chapter_convolutional-modern/alexnet.html",
                   "LICENSE-CHAPTER.md", {"en": "adapt", "id": "diadaptasi"}[language]):
        assert needed in credit, needed
    if language == "id":
        assert "edisi bahasa Indonesia" in credit
    # The chapter's citations became a reference list, the paper of 2012 first.
    references = source(notebook["cells"][-1])
    assert references.startswith({"en": "## References", "id": "## Daftar pustaka"}[language])
    first = references.splitlines()[2]
    assert first.startswith("- Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton (2012)")
    text = prose_of(notebook)
    assert ":cite:" not in text and ":label:" not in text and ":begin_tab:" not in text


def book_alexnet_source(module):
    """``class BookAlexNet`` as written in ``d2l_alexnet/<module>/model.py``, its docstring out
    (read as text: the framework is not imported)."""
    path = ROOT / "d2l_alexnet" / module / "model.py"
    text = path.read_text(encoding="utf-8")
    node = next(node for node in ast.parse(text).body
                if isinstance(node, ast.ClassDef) and node.name == "BookAlexNet")
    lines = text.splitlines()[node.lineno - 1:node.end_lineno]
    docstring = node.body[0]
    after = docstring.end_lineno - node.lineno + 1
    if not lines[after].strip():  # the blank line that closes the docstring goes with it
        after += 1
    del lines[docstring.lineno - node.lineno:after]
    return "\n".join(lines)


@pytest.mark.parametrize("backend,language", ALL)
def test_the_books_code_is_on_the_page_as_bookalexnet_has_it(backend, language):
    """Readable without running: a static block per framework, equal to ``BookAlexNet``."""
    blocks = re.findall(r"```python\n(class BookAlexNet.*?)\n```",
                        prose_of(committed(backend, language)), re.S)
    assert blocks == [book_alexnet_source(BACKENDS[backend])]


@pytest.mark.parametrize("language", ["en", "id"])
def test_the_chapters_facts_and_points(language):
    text = " ".join(prose_of(committed(backend, language)) for backend in BACKENDS)
    needed = {
        "en": ("early 1990s", "A100, an Ampere GPU, has 6,912 CUDA cores", "nearly 1 GB",
               "60 million parameters for the whole original network",
               "for the first time", "initializing the parameters", "computer-vision researcher",
               "prints no accuracy", "$\\mathrm{ReLU}(x) = \\max(0, x)$"),
        "id": ("awal 1990-an", "A100 dari NVIDIA, sebuah GPU Ampere, memiliki 6.912", "hampir 1 GB",
               "60 juta parameter", "pertama kalinya",
               "$\\mathrm{ReLU}(x) = \\max(0, x)$", "Jaringan Neural Konvolusi Dalam (AlexNet)"),
    }[language]
    for phrase in needed:
        assert phrase in text, phrase
    # (Ampere chips other than the A100 have more cores: 6,912 is no upper bound.)
    for wrong in ("roughly fifteen years", "up to 6,912", "hingga 6.912",
                  "almost 1 GB of GPU memory",
                  "pembelajaran mendalam", "titik mengambang", "Konvolusional Dalam",
                  "mencocokkan", "persis seperti di buku"):
        assert wrong not in text, wrong


def test_the_book_code_lists_each_changed_line():
    for backend in BACKENDS:
        text = prose_of(committed(backend, "en"))
        listed = text[text.index("The lines that differ from the book's:"):]
        assert "`class BookAlexNet(Classifier)`" in listed, backend
    tensorflow = prose_of(committed("tensorflow", "en"))
    for change in ("`keras.Sequential`", "`keras.layers.MaxPooling2D`", "`self.built = True`"):
        assert change in tensorflow, change


# ---- the build step's conventions ---------------------------------------------------------------

def test_prose_splits_at_tab_blocks_and_drops_labels():
    build = load_tool("build_notebooks")
    text = ("# Title\n:label:`sec_x`\n\nShared.\n\n:begin_tab:`pytorch`\nTorch only.\n:end_tab:\n"
            "\n:begin_tab:`mxnet, jax`\nTwo of them.\n:end_tab:\nAfter.")
    assert build.split_prose(text, "x.md") == [
        (None, "# Title\n\nShared."), (("pytorch",), "Torch only."),
        (("mxnet", "jax"), "Two of them."), (None, "After.")]
    for broken, message in ((":begin_tab:`pytorch`\nno end", "never closed"),
                            (":end_tab:", "without a :begin_tab:"),
                            (":begin_tab:`keras`\nx\n:end_tab:", "unknown framework 'keras'")):
        with pytest.raises(build.SourceError, match=message):
            build.split_prose(broken, "x.md")


def test_each_frameworks_version_of_a_place_shares_its_id():
    build = load_tool("build_notebooks")
    entries = [("markdown", None, "a", {}), ("code", ("pytorch",), "1", {}),
               ("code", ("mxnet", "jax"), "2", {}), ("code", ("tensorflow",), "3", {}),
               ("code", ("pytorch",), "4", {}), ("markdown", ("jax",), "b", {}),
               ("code", None, "5", {})]
    assert build.cell_ids(entries) == ["cell-001", "cell-002", "cell-002", "cell-002",
                                       "cell-003", "cell-004", "cell-005"]


def test_citations_become_author_year_and_an_unknown_key_is_named():
    build = load_tool("build_notebooks")
    bibliography = build.read_bibliography()
    cited = []
    text = build.cite("AlexNet :cite:`Krizhevsky.Sutskever.Hinton.2012`.", bibliography, cited,
                      "id", "x.md")
    assert text == "AlexNet (Krizhevsky dkk., 2012)." and cited == [
        "Krizhevsky.Sutskever.Hinton.2012"]
    with pytest.raises(build.SourceError, match="Nobody.2030.*references.bib"):
        build.cite(":cite:`Nobody.2030`", bibliography, [], "en", "x.md")


def test_the_helpers_print_in_the_notebooks_language():
    assert resolve_mode(None, False, environ={}, language="id") == ("quick", "tidak ada GPU")
    assert mode_name("full", language="id") == "pelatihan penuh"
    assert mode_name("smoke") == "smoke run"
    table = comparison_table(language="id")
    assert "| gambar | 1×28×28 |" in table and "**total**" in table and "image" not in table
    with pytest.raises(ValueError, match="language must be one of en, id"):
        comparison_table(language="fr")


@pytest.mark.parametrize("source", sorted((ROOT / "chapter").rglob("*.md")),
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_every_paragraph_closes_its_emphasis(source):
    """An italic or bold span left open shows its ``*`` as text on the page and in Jupyter (the
    Indonesian exercise 7's answer once did): each paragraph's asterisks, outside code, math
    and list markers, come in pairs."""
    text = re.sub(r"(```|~~~).*?\1", "", source.read_text(encoding="utf-8"), flags=re.S)
    unclosed = []
    for paragraph in re.split(r"\n\s*\n", text):
        prose = re.sub(r"`[^`]*`|\$[^$]*\$", "", paragraph)
        prose = re.sub(r"^\s*[*-] ", "", prose, flags=re.MULTILINE)
        if prose.count("*") % 2:
            unclosed.append(paragraph.strip()[:80])
    assert unclosed == []
