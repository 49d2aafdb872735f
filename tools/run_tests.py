"""Run every test suite, each backend in its own pytest process, two processes at a time: the
core, each backend's contract suite, and the chapter notebooks executed in the smoke mode (each
in its backend's environment, English and Indonesian), saving the executed copies in
``build/executed/``; then build the chapter's web page from those and test it in a browser
(``tests/book``); and print one total.

Two at a time (``--jobs``), because on two cores one suite alone leaves much of the second idle
(importing frameworks, compiling steps and starting processes run on one core). Each suite's
output is printed whole when it ends.

Without a Python <= 3.11 (``--mxnet-python`` empty) the MXNet suites are left out with a note;
``D2L_ALEXNET_REQUIRE_MXNET=1`` makes that a failure instead, before any suite runs.

The suites write their weight files and checkpoints in the temporary directory (``TMPDIR``):
with less than ``TEMPORARY_ROOM`` free there, nothing runs, with one ``error:`` line, rather
than dozens of tests failing on a full disk half an hour in.

PyTorch, TensorFlow and JAX share an environment but not a process (their OpenMP/oneDNN
runtimes and thread pools can clash); MXNet runs from its own environment. The cross-backend
parity test crosses them through a directory named in ``D2L_ALEXNET_PARITY_DIR``: PyTorch writes
the reference there first (``tests/contract/parity_fixture.py``), and every suite checks against
it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

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
# The most the suites hold in the temporary directory at once is 2.8 GB (a clean clone's
# `make test`, 2026-12-06, sampled every 15 s; pytest removes each passing test's files): this
# leaves room for the failing tests' files, which pytest keeps, and for PyTorch's kernel cache.
TEMPORARY_ROOM = 5 * 2**30  # 5 GiB


def free_bytes(path):
    return shutil.disk_usage(path).free


def pytest(python, *targets):
    return [python, "-m", "pytest", "-q", *targets]


# The notebooks run the smoke mode, which shows that every cell works (every backend's contract
# suite holds its training to an accuracy: test_training_generalizes_to_held_out_images); the
# reader's quick mode, held to an accuracy, is `make notebooks`.
NOTEBOOK_MODE = "smoke"
# Where the notebook suites save what they executed, for the page's browser test
# (tests/book/test_page.py reads it from there).
EXECUTED_DIR = os.path.join("build", "executed")
PARITY_FIXTURE = os.path.join("tests", "contract", "parity_fixture.py")
JOBS = 2  # suites at a time: the project's machines have two cores


def notebooks(python, backends, *languages):
    return [python, "tools/run_notebooks.py", "--python", python, "--backend", *backends,
            "--language", *languages, "--executed-dir", EXECUTED_DIR, "--mode", NOTEBOOK_MODE]


def suites(python, mxnet_python, with_notebooks=True):
    """``(name, command, takes pytest arguments, names it waits for)`` for every suite, the
    longest first, so that two lanes end close together."""
    for backend in ("jax", "tensorflow", "pytorch"):
        yield backend, pytest(python, "tests/contract", BACKEND_TESTS[backend],
                              "--backend", backend), True, ()
    if mxnet_python:
        for backend in MXNET_ENV_BACKENDS:
            yield backend, pytest(mxnet_python, "tests/contract", BACKEND_TESTS[backend],
                                  "--backend", backend), True, ()
    executed = []
    if with_notebooks:
        for language in ("en", "id"):
            name = f"notebooks ({language})"
            executed.append(name)
            yield name, notebooks(python, MAIN_ENV_BACKENDS, language), False, ()
        if mxnet_python:
            name = "notebooks (mxnet)"
            executed.append(name)
            yield name, notebooks(mxnet_python, MXNET_ENV_BACKENDS, "en", "id"), False, ()
    yield "core", pytest(python, "tests/core"), True, ()
    if mxnet_python:  # the core again on numpy 1.23 (MXNet's environment)
        yield "core (numpy 1.23)", pytest(mxnet_python, "tests/core"), True, ()
    if with_notebooks:
        # The page from the notebooks just executed, in headless Chromium.
        yield "book", pytest(python, "tests/book"), True, tuple(executed)


def run_suite(name, command, env, printing):
    """Run one suite to its end; print its output whole; ``(exit status, last line)``."""
    with printing:
        print(f"===== {name}: started: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    process = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env)
    with printing:
        print(f"\n===== {name}: {' '.join(command)}", flush=True)
        sys.stdout.write(process.stdout)
        print(f"===== {name}: exit {process.returncode} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    output = process.stdout.strip()
    return process.returncode, output.splitlines()[-1] if output else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--mxnet-python", default="")
    parser.add_argument("--no-notebooks", dest="notebooks", action="store_false",
                        help="skip executing the chapter notebooks")
    parser.add_argument("--jobs", type=int, default=JOBS, help="suites run at a time")
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

    temporary = tempfile.gettempdir()
    free = free_bytes(temporary)
    if free < TEMPORARY_ROOM:
        print(f"error: the suites need {TEMPORARY_ROOM / 2**30:.0f} GiB free in the temporary "
              f"directory {temporary} for their weight files and checkpoints, and it has "
              f"{free / 2**30:.1f} GiB: free some room there, or point TMPDIR at a folder on a "
              "disk with more", file=sys.stderr)
        return 1
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    parity = tempfile.TemporaryDirectory(prefix="d2l_alexnet_parity_")  # for this run only
    env = dict(os.environ, D2L_ALEXNET_PARITY_DIR=parity.name)
    printing = threading.Lock()
    # The reference every backend's parity test compares with, before any suite starts.
    status, _ = run_suite("parity fixture", [args.python, PARITY_FIXTURE, parity.name], env,
                          printing)
    if status != 0:
        failures.append("parity fixture")
    started = {}

    def run(name, command, after):
        for waited in after:  # the suites whose output this one reads
            started[waited].result()
        return run_suite(name, command, env, printing)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, command, takes_pytest_args, after in suites(args.python, args.mxnet_python,
                                                              args.notebooks):
            if takes_pytest_args:
                command = [*command, *args.pytest_args]
            started[name] = pool.submit(run, name, command, after)
    for name, future in started.items():
        status, last = future.result()
        for count, kind in COUNT.findall(last):
            key = "failed" if kind.startswith("error") else kind
            totals[key] += int(count)
        if status != 0:
            failures.append(name)
    parity.cleanup()
    print()
    if failures:
        print(f"failing suites: {', '.join(failures)}")
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failures or totals["passed"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
