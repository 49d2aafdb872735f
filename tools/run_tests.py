"""Run every test suite, each backend in its own pytest process, then execute the notebooks
(each in its backend's environment: the English chapter notebooks in the reader's quick mode,
held to an accuracy, the Indonesian ones in the smoke mode), saving the executed copies in
``build/executed/``; then build the chapter's web page from those and test it in a browser
(``tests/book``); and print one total.

Without a Python <= 3.11 (``--mxnet-python`` empty) the MXNet suites are left out with a note;
``D2L_ALEXNET_REQUIRE_MXNET=1`` makes that a failure instead, before any suite runs.

PyTorch, TensorFlow and JAX share an environment but not a process (their OpenMP/oneDNN
runtimes and thread pools can clash); MXNet runs from its own environment. The cross-backend
parity test crosses them through a directory named in ``D2L_ALEXNET_PARITY_DIR``: the pytorch
suite, which runs first, writes the reference there and every later suite checks against it.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN_ENV_BACKENDS = ("pytorch", "tensorflow", "jax")
MXNET_ENV_BACKENDS = ("mxnet",)
BACKEND_TESTS = {"pytorch": "tests/backends/test_torch.py",
                 "tensorflow": "tests/backends/test_tensorflow.py",
                 "jax": "tests/backends/test_jax.py",
                 "mxnet": "tests/backends/test_mxnet.py"}
# Set to 1 (CI does) to fail, rather than skip the MXNet suites, when no Python <= 3.11 is found.
REQUIRE_MXNET = "D2L_ALEXNET_REQUIRE_MXNET"
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped)")


def pytest(python, *targets):
    return [python, "-m", "pytest", "-q", *targets]


# The English chapter notebooks run the reader's quick mode and must learn (measured val_acc:
# 0.64 in JAX to 0.71 in PyTorch, where chance is 0.1); the Indonesian ones, whose code is the
# same but for comments and labels (tests/core/test_notebooks.py), run the smoke mode, which only
# shows that every cell works, to keep CI short.
QUICK_MIN_VAL_ACC = "0.4"
# Where the notebook suites save what they executed, for the page's browser test
# (tests/book/test_page.py reads it from there).
EXECUTED_DIR = os.path.join("build", "executed")


def notebooks(python, backends, language, mode):
    command = [python, "tools/run_notebooks.py", "--python", python, "--backend", *backends,
               "--language", language, "--executed-dir", EXECUTED_DIR, "--mode", mode]
    return command + (["--min-val-acc", QUICK_MIN_VAL_ACC] if mode == "quick" else [])


def suites(python, mxnet_python, with_notebooks=True):
    """``(name, command, takes pytest arguments)`` for every suite, in order."""
    yield "core", pytest(python, "tests/core"), True
    for backend in MAIN_ENV_BACKENDS:
        yield backend, pytest(python, "tests/contract", BACKEND_TESTS[backend],
                              "--backend", backend), True
    if with_notebooks:
        yield "notebooks", notebooks(python, MAIN_ENV_BACKENDS, "en", "quick"), False
        yield "notebooks (id)", notebooks(python, MAIN_ENV_BACKENDS, "id", "smoke"), False
    if mxnet_python:
        # The core again on numpy 1.23 (MXNet's environment), then the MXNet suites.
        yield "core (numpy 1.23)", pytest(mxnet_python, "tests/core"), True
        for backend in MXNET_ENV_BACKENDS:
            yield backend, pytest(mxnet_python, "tests/contract", BACKEND_TESTS[backend],
                                  "--backend", backend), True
        if with_notebooks:
            yield "notebooks (mxnet)", notebooks(mxnet_python, MXNET_ENV_BACKENDS, "en",
                                                 "quick"), False
            yield "notebooks (mxnet, id)", notebooks(mxnet_python, MXNET_ENV_BACKENDS, "id",
                                                     "smoke"), False
    if with_notebooks:
        # Last: the page from the notebooks just executed, in headless Chromium.
        yield "book", pytest(python, "tests/book"), True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--mxnet-python", default="")
    parser.add_argument("--no-notebooks", dest="notebooks", action="store_false",
                        help="skip executing the chapter notebooks")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for every pytest run")
    args = parser.parse_args()

    if not args.mxnet_python:
        if os.environ.get(REQUIRE_MXNET) == "1":  # CI: a run without MXNet must not pass
            print(f"error: {REQUIRE_MXNET}=1, but no Python <= 3.11 was found, so the MXNet "
                  "suites (the core on numpy 1.23, the mxnet contract suite and notebooks) "
                  "cannot run: install Python 3.11, or name one with "
                  "`make test MXNET_PYTHON=/path/to/python3.11`", file=sys.stderr)
            return 1
        print("note: no Python <= 3.11 found, so the MXNet suites are not run (MXNet 1.9.1 "
              f"needs numpy<1.24; set {REQUIRE_MXNET}=1 to make that a failure)")

    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    parity = tempfile.TemporaryDirectory(prefix="d2l_alexnet_parity_")  # for this run only
    env = dict(os.environ, D2L_ALEXNET_PARITY_DIR=parity.name)
    for name, command, takes_pytest_args in suites(args.python, args.mxnet_python,
                                                   args.notebooks):
        if takes_pytest_args:
            command = [*command, *args.pytest_args]
        print(f"\n===== {name}: {' '.join(command)}", flush=True)
        started = time.perf_counter()
        process = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env)
        sys.stdout.write(process.stdout)
        last = process.stdout.strip().splitlines()[-1] if process.stdout.strip() else ""
        for count, kind in COUNT.findall(last):
            key = "failed" if kind.startswith("error") else kind
            totals[key] += int(count)
        if process.returncode != 0:
            failures.append(name)
        print(f"===== {name}: exit {process.returncode} in {time.perf_counter() - started:.0f} s",
              flush=True)
    parity.cleanup()
    print()
    if failures:
        print(f"failing suites: {', '.join(failures)}")
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failures or totals["passed"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
