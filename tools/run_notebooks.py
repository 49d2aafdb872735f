#!/usr/bin/env python3
"""Execute the chapter's notebooks end to end, in memory; a notebook fails at its first error.

Each notebook runs in a fresh Jupyter kernel started from the Python given by ``--python`` (so the
MXNet notebooks run in ``.venv-mxnet`` and the others in ``.venv``) through a kernel spec written
to a temporary directory: nothing is registered with Jupyter, and no kernel installed elsewhere
on the machine can be picked up by mistake. The kernel imports ``d2l_alexnet`` from this working
tree (``PYTHONPATH``) and runs with ``D2L_ALEXNET_QUICK=1`` unless ``--mode`` says otherwise, so
every notebook trains its quick run (``--mode smoke``: the shortest run, which only shows that
every cell works; ``--min-val-acc`` holds the chapter notebooks to an accuracy). The committed
notebooks are never written to: outputs stay in memory unless ``--executed-dir`` names a
directory outside ``notebooks/`` for executed copies.

Needs ``nbclient`` and ``nbformat`` here, and ``ipykernel`` in the kernel's Python
(``pip install -e '.[notebooks]'`` brings all three).

Usage::

    python tools/run_notebooks.py --backend pytorch jax            # both languages of each
    .venv-mxnet/bin/python tools/run_notebooks.py --backend mxnet
    python tools/run_notebooks.py notebooks/id/alexnet-jax.ipynb --show-output

The last line reads ``N passed, M failed``; the exit status is 1 if any notebook failed and 2 on
bad input (an unknown backend, a missing notebook, a Python without ipykernel).
"""

import argparse
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
BACKENDS = ("pytorch", "tensorflow", "jax", "mxnet")
LANGUAGE_DIRS = {"en": NOTEBOOK_DIR, "id": NOTEBOOK_DIR / "id"}
MODES = {"quick": "1", "full": "0", "smoke": "smoke", "auto": None}  # -> D2L_ALEXNET_QUICK
# What a chapter notebook's trainer prints at the end of each epoch, e.g. "val_acc 0.7139"
# (the Indonesian edition's: "val_acc 0,7139").
VAL_ACC = re.compile(r"\bval_acc (\d+[.,]\d+)")
KERNEL_NAME = "d2l-alexnet-run"
LESSON_FILE = "alexnet-in-another-lesson.ipynb"  # BACKEND = "pytorch" in its parameters cell


def select_notebooks(paths, backends, languages):
    """The notebooks to run: the paths given, else each backend's notebook in each language,
    and with PyTorch (its default backend) the lesson notebook in each language."""
    if paths:
        return [Path(path).resolve() for path in paths]
    chosen = [LANGUAGE_DIRS[language] / f"alexnet-{backend}.ipynb"
              for backend in backends for language in languages]
    if "pytorch" in backends:
        chosen += [LANGUAGE_DIRS[language] / LESSON_FILE for language in languages]
    return chosen


def write_kernel_spec(directory, python, mode):
    """A kernel spec running ``python -m ipykernel_launcher`` with our environment."""
    env = {"PYTHONPATH": os.pathsep.join(
        part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part)}
    if MODES[mode] is not None:
        env["D2L_ALEXNET_QUICK"] = MODES[mode]
    spec_dir = Path(directory) / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"d2l_alexnet ({python})", "language": "python", "env": env}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")


def text_outputs(cell):
    """The printed text of a code cell's outputs (streams, plain-text results and errors)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/markdown" in data:
                parts.append(data["text/markdown"] + "\n")
            elif "text/plain" in data and "image/png" not in data:
                parts.append(data["text/plain"] + "\n")
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])) + "\n")
    return "".join(parts)


def last_val_acc(notebook):
    """The validation accuracy the last epoch printed in the notebook's outputs, or None."""
    found = [float(value.replace(",", ".")) for cell in notebook.cells if cell.cell_type == "code"
             for value in VAL_ACC.findall(text_outputs(cell))]
    return found[-1] if found else None


def run_notebook(path, spec_dir, timeout, show_output, executed_dir, min_val_acc=None):
    """Execute one notebook; returns ``(passed, seconds)``. With ``min_val_acc``, a notebook
    that trains must also end at least that accurate (the lesson notebook trains its own data
    and is not held to it)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(path, as_version=4)
    spec_manager = KernelSpecManager(kernel_dirs=[spec_dir])
    # IPC (Unix sockets) rather than TCP: no ports to find, nothing reachable from outside. The
    # socket paths must be absolute: the kernel runs in the notebook's directory.
    sockets = {"transport": "ipc", "ip": str(Path(spec_dir) / "kernel")} if os.name == "posix" \
        else {}
    kernel_manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=spec_manager,
                                   **sockets)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    started = {"at": time.perf_counter(), "count": 0}

    def on_cell_start(cell, cell_index, **_):
        started["at"] = time.perf_counter()

    def on_cell_executed(cell, cell_index, **_):
        started["count"] += 1
        print(f"  cell {started['count']:>2}/{code_cells} {cell.get('id', cell_index)!s:<16} "
              f"{time.perf_counter() - started['at']:6.1f} s", flush=True)
        if show_output:
            text = text_outputs(cell).rstrip()
            if text:
                print("    " + text.replace("\n", "\n    "), flush=True)

    client = NotebookClient(notebook, km=kernel_manager, timeout=timeout,
                            kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=on_cell_start, on_cell_executed=on_cell_executed)
    # The kernel gets a temporary directory of its own, so that whatever the notebook leaves in
    # it (a reader's /tmp would keep it: weights are 80 MB and more) fails the run.
    scratch = Path(tempfile.mkdtemp(prefix="d2l-alexnet-notebook-tmp-"))
    began = time.perf_counter()
    passed = True
    try:
        # Shut the kernel down afterwards, even on an error; gracefully, so its exit-time
        # cleanups (a TemporaryDirectory's) run before the check below.
        client.execute(cleanup_kc=True, env={**os.environ, "TMPDIR": str(scratch)})
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        passed = False
        print(f"  error: {error}", flush=True)
    except Exception as error:  # the kernel did not start or stopped answering
        passed = False
        print(f"  error: the kernel failed: {error!r}", flush=True)
    finally:
        # When a kernel never starts, nbclient leaves its exit-time cleanup registered, and that
        # cleanup can wait forever at interpreter exit.
        atexit.unregister(client._cleanup_kernel)
        if kernel_manager.has_kernel:
            kernel_manager.shutdown_kernel(now=True)
    # Files only: PyTorch makes an empty cache directory of its own (torchinductor_<user>).
    left_behind = sorted(str(entry.relative_to(scratch)) for entry in scratch.rglob("*")
                         if entry.is_file())
    shutil.rmtree(scratch, ignore_errors=True)
    if passed and left_behind:
        passed = False
        print(f"  error: the notebook left {', '.join(left_behind)} in the temporary directory; "
              "write scratch files in a tempfile.TemporaryDirectory, which removes them",
              flush=True)
    seconds = time.perf_counter() - began
    if passed and min_val_acc is not None and path.name != LESSON_FILE:
        accuracy = last_val_acc(notebook)
        if accuracy is None or accuracy < min_val_acc:
            passed = False
            print(f"  error: the last epoch's val_acc is {accuracy}, below --min-val-acc "
                  f"{min_val_acc}: the run did not learn", flush=True)
        else:
            print(f"  val_acc {accuracy:.4f} (at least {min_val_acc})", flush=True)
    if executed_dir is not None:
        inside = NOTEBOOK_DIR in path.parents
        target = executed_dir / (path.relative_to(NOTEBOOK_DIR) if inside else path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
    return passed, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Without notebooks or --backend, every backend's notebooks run.")
    parser.add_argument("notebooks", nargs="*", help="notebook files to run")
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=None,
                        help="run these backends' notebooks (in every --language)")
    parser.add_argument("--language", nargs="+", choices=tuple(LANGUAGE_DIRS),
                        default=list(LANGUAGE_DIRS))
    parser.add_argument("--python", default=sys.executable,
                        help="the Python the kernel runs (default: this one)")
    parser.add_argument("--mode", choices=tuple(MODES), default="quick",
                        help="quick (default), full or smoke: D2L_ALEXNET_QUICK=1, 0 or smoke "
                             "(every cell once, too short to learn); auto: unset "
                             "(the notebook decides from the GPU)")
    parser.add_argument("--timeout", type=int, default=1200,
                        help="seconds any one cell may run (default 1200)")
    parser.add_argument("--min-val-acc", type=float, default=None, metavar="ACC",
                        help="fail a chapter notebook whose last epoch printed a lower val_acc")
    parser.add_argument("--show-output", action="store_true",
                        help="print each cell's text output as it finishes")
    parser.add_argument("--executed-dir", type=Path, default=None,
                        help="also save executed copies here (never inside notebooks/)")
    args = parser.parse_args(argv)

    def fail(message):
        print(f"error: {message}", file=sys.stderr)
        return 2

    if args.notebooks and args.backend:
        return fail("give notebook files or --backend, not both")
    paths = select_notebooks(args.notebooks, args.backend or BACKENDS, args.language)
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        return fail(f"no such notebook: {', '.join(missing)}")
    if args.timeout < 1:
        return fail("--timeout must be at least 1 second")
    executed_dir = None
    if args.executed_dir is not None:
        executed_dir = args.executed_dir.resolve()
        if executed_dir == NOTEBOOK_DIR or NOTEBOOK_DIR in executed_dir.parents:
            return fail("--executed-dir must be outside notebooks/: the committed notebooks "
                        "carry no outputs")
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as error:
        return fail(f"{error.name} is missing here: pip install nbclient nbformat "
                    "(or pip install -e '.[notebooks]')")
    # Absolute: the kernel starts in the notebook's directory. abspath, not resolve: a venv's
    # python is a symlink whose target would not see the venv's packages.
    python = os.path.abspath(args.python) if os.sep in args.python else shutil.which(args.python)
    if python is None or not os.path.isfile(python):
        return fail(f"no Python at {args.python}")
    check = subprocess.run([python, "-c", "import ipykernel"], capture_output=True)
    if check.returncode != 0:
        return fail(f"{python} cannot import ipykernel, which runs the notebooks' kernel: "
                    f"{python} -m pip install ipykernel (or -e '.[notebooks]')")

    results = []
    with tempfile.TemporaryDirectory(prefix="d2l-alexnet-kernels-") as spec_root:
        write_kernel_spec(spec_root, python, args.mode)
        for path in paths:
            name = path.relative_to(ROOT) if ROOT in path.parents else path
            print(f"=== {name} ({args.mode} run, kernel {python})", flush=True)
            passed, seconds = run_notebook(path, spec_root, args.timeout, args.show_output,
                                           executed_dir, args.min_val_acc)
            print(f"=== {name}: {'passed' if passed else 'FAILED'} in {seconds:.0f} s",
                  flush=True)
            results.append((name, passed, seconds))
    failed = [name for name, passed, _ in results if not passed]
    if failed:
        print("failing notebooks: " + ", ".join(str(name) for name in failed))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
