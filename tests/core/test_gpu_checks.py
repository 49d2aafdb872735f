"""benchmarks/gpu_checks.sh, the one pass a lent GPU gets: every step runs even after one fails,
each step's status is listed, and the archive that comes back leaves the weights out. A stub
stands in for Python, so no framework or GPU is needed."""

import shutil
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest

from d2l_alexnet import bench
from d2l_alexnet.core.data import DataError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_checks.sh"
# The core table first (part 1: batch 128, ours and the plain loop), then the chapter,
# time to accuracy and JAX (part 2), then what a later lease can take (part 3).
PARTS = {
    1: ["pytorch-bf16", "pytorch-bf16-compile", "plain-bf16", "pytorch-fp32",
        "pytorch-fp32-compile"],
    2: ["chapter-pytorch-fp32", "first-layer-filters", "tta-pytorch-bf16", "jax-bf16",
        "tta-jax-bf16", "tta-pytorch-bf16-compile"],
    3: ["jax-fp32", "pytorch-bf16-512-compile", "pytorch-fp32-512-compile", "pytorch-bf16-512",
        "plain-bf16-512", "plain-fp32", "pytorch-bf16-host-data", "fast10-pytorch-bf16",
        "fast10-pytorch-bf16-augment"]}
STEPS = PARTS[1] + PARTS[2] + PARTS[3]
# A lent machine's call runs at most 600 s; each part's limits, with the start, fit one.
CALL_SECONDS, START_SECONDS = 600, 30

# Writes a weights file where a command names --out (a kernel file where it names
# --save-kernel), and fails for the JAX bf16 benchmark.
STUB = """#!/usr/bin/env bash
args="$*"
out=""
kernel=""
while [ $# -gt 0 ]; do
  [ "$1" = --out ] && out=$2
  [ "$1" = --save-kernel ] && kernel=$2
  shift
done
if [ -n "$out" ]; then
  mkdir -p "$out"; echo w >"$out/weights.safetensors"; echo m >"$out/metrics.json"
fi
if [ -n "$kernel" ]; then mkdir -p "$(dirname "$kernel")"; echo k >"$kernel"; fi
case "$args" in *"--backend jax --precision bf16 --steps"*) echo "no GPU" >&2; exit 3;; esac
echo "ran $args"
echo "JAX_LOG_COMPILES=${JAX_LOG_COMPILES:-} TORCH_LOGS=${TORCH_LOGS:-}"
[ -z "${STUB_SECONDS:-}" ] || case " $args" in *" -m "*|*plain_torch_loop*) sleep "$STUB_SECONDS";;
esac
"""


def stub_python(tmp_path):
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return stub


def run_checks(tmp_path, *args, **variables):
    """The script under the stub Python (``PYTHON`` in ``variables`` overrides it)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(stub_python(tmp_path)), **variables}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=120)


def summary_steps(out):
    """The steps summary.txt lists, without its "# call" lines."""
    return [line.split()[0] for line in (out / "summary.txt").read_text().splitlines()
            if not line.startswith("#")]


needs_timeout = pytest.mark.skipif(shutil.which("timeout") is None,
                                   reason="needs coreutils' timeout")


@needs_timeout
def test_every_step_runs_is_listed_and_the_archive_leaves_weights_out(tmp_path):
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    out, archive = tmp_path / "out", tmp_path / "gpu.tar.gz"
    subprocess.run(["bash", str(SCRIPT), str(out), str(tmp_path / "data")], check=True,
                   env={"PATH": "/usr/bin:/bin", "PYTHON": str(stub), "ARCHIVE": str(archive)},
                   capture_output=True, text=True, timeout=120)

    lines = [line for line in (out / "summary.txt").read_text().splitlines()
             if not line.startswith("#")]
    assert [line.split()[0] for line in lines] == STEPS
    status = {line.split()[0]: line.split()[1] for line in lines}
    assert status["jax-bf16"] == "rc=3"
    assert all(status[name] == "rc=0" for name in STEPS if name != "jax-bf16")
    assert "no GPU" in (out / "jax-bf16.log").read_text()
    assert "--time-to-accuracy 0.88 --recipe fast" in (out / "tta-pytorch-bf16.log").read_text()

    with tarfile.open(archive) as packed:
        names = packed.getnames()
    assert "./summary.txt" in names and "./chapter-pytorch-fp32/metrics.json" in names
    # The weights stay behind; the first layer's kernel, a few kilobytes, comes back.
    assert [name for name in names if name.endswith(".safetensors")] == [
        "./first-layer-filters/conv1.safetensors"]
    filters = (out / "first-layer-filters.log").read_text()
    assert "--weights " + str(out / "chapter-pytorch-fp32" / "weights.safetensors") in filters
    plain = (out / "plain-bf16.log").read_text()
    assert "plain_torch_loop.py --device cuda" in plain and "--data-dir " + str(
        tmp_path / "data") in plain


@needs_timeout
def test_only_and_skip_choose_the_steps_of_a_pass_taken_in_two_calls(tmp_path):
    first = STEPS[:STEPS.index("first-layer-filters") + 1]
    ran = []
    for name, selection in (("first", {"ONLY": " ".join(first)}),
                            ("second", {"SKIP": " ".join(first)})):
        out = tmp_path / name
        run_checks(tmp_path, out, tmp_path, **selection).check_returncode()
        ran.append(summary_steps(out))
    assert ran[0] == first and first + ran[1] == STEPS


@pytest.mark.parametrize("selection", [
    {"ONLY": "pytorch-bf16 ..."},  # the old header's own example
    {"SKIP": "pytorch-bf16 chapter"},
    {"PART": "4"}])
def test_an_unknown_step_or_part_is_refused_before_anything_runs(tmp_path, selection):
    out = tmp_path / "out"
    checks = run_checks(tmp_path, out, tmp_path, **selection)
    assert checks.returncode == 2 and not out.exists()
    message = checks.stderr.strip()
    assert len(message.splitlines()) == 1
    if "PART" not in selection:  # names the valid steps
        assert all(name in message for name in STEPS)


def test_list_names_every_step_with_its_part_and_limit(tmp_path):
    checks = run_checks(tmp_path, "--list")
    listed = [line.split() for line in checks.stdout.splitlines()]
    assert checks.returncode == 0 and [fields[0] for fields in listed] == STEPS
    assert all(fields[1] == f"part={part}" for part, names in PARTS.items()
               for fields in listed if fields[0] in names)


def test_each_part_fits_one_call_with_its_limits(tmp_path):
    limits = {}
    for line in run_checks(tmp_path, "--list").stdout.splitlines():
        name, part, limit = line.split()
        limits.setdefault(part, []).append(int(limit.removeprefix("limit=").removesuffix("s")))
    assert sorted(limits) == ["part=1", "part=2", "part=3"]
    assert sum(limits["part=1"]) + START_SECONDS <= CALL_SECONDS
    assert sum(limits["part=2"]) + START_SECONDS <= CALL_SECONDS


@needs_timeout
@pytest.mark.parametrize("part", [1, 2])
def test_part_runs_its_steps_in_order_and_keeps_the_summary_of_an_earlier_call(tmp_path, part):
    out = tmp_path / "out"
    run_checks(tmp_path, out, tmp_path, PART="1" if part == 2 else "3",
               ONLY="pytorch-bf16 jax-fp32").check_returncode()
    before = (out / "summary.txt").read_text()
    run_checks(tmp_path, out, tmp_path, PART=str(part)).check_returncode()
    summary = (out / "summary.txt").read_text()
    assert summary.startswith(before)  # a second call appends
    assert summary.count("# call at ") == 2 and f"PART={part}" in summary.splitlines()[-1 - len(
        PARTS[part])]
    assert summary_steps(out)[-len(PARTS[part]):] == PARTS[part]


@needs_timeout
def test_a_step_whose_limit_does_not_fit_the_deadline_is_skipped_and_named(tmp_path):
    out = tmp_path / "out"
    # Each step takes 3 s: pytorch-bf16 (limit 60) fits before 62 s; at 3 s neither its
    # compiled twin (150), the plain loop (90) nor pytorch-fp32 (60, as the first) does.
    run_checks(tmp_path, out, tmp_path, PART="1", DEADLINE="62",
               STUB_SECONDS="3").check_returncode()
    lines = [line for line in (out / "summary.txt").read_text().splitlines()
             if not line.startswith("#")]
    status = {line.split()[0]: line.split()[1] for line in lines}
    assert [line.split()[0] for line in lines] == PARTS[1]
    assert status == {"pytorch-bf16": "rc=0", "pytorch-bf16-compile": "skipped:",
                      "plain-bf16": "skipped:", "pytorch-fp32": "skipped:",
                      "pytorch-fp32-compile": "skipped:"}
    assert "DEADLINE=62" in lines[-1]
    assert not (out / "pytorch-fp32.log").exists()


@needs_timeout
def test_a_skipped_step_leaves_no_folder(tmp_path):
    out = tmp_path / "out"
    run_checks(tmp_path, out, tmp_path, PART="1").check_returncode()
    assert not (out / "first-layer-filters").exists()


@needs_timeout
def test_compilations_are_logged_for_jax_and_compiled_pytorch_steps(tmp_path):
    out = tmp_path / "out"
    run_checks(tmp_path, out, tmp_path,
               ONLY="pytorch-bf16 pytorch-bf16-compile plain-bf16 tta-jax-bf16 jax-fp32"
               ).check_returncode()
    assert "TORCH_LOGS=\n" in (out / "pytorch-bf16.log").read_text()
    for name in ("pytorch-bf16-compile", "plain-bf16"):
        assert "TORCH_LOGS=recompiles" in (out / f"{name}.log").read_text()
    for name in ("tta-jax-bf16", "jax-fp32"):
        assert "JAX_LOG_COMPILES=1 " in (out / f"{name}.log").read_text()
    assert "--backend jax --precision fp32" in (out / "jax-fp32.log").read_text()


@needs_timeout
def test_the_archive_is_written_whole_and_may_not_lie_inside_the_output(tmp_path):
    out, archive = tmp_path / "out", tmp_path / "back" / "part1.tar.gz"
    archive.parent.mkdir()
    run_checks(tmp_path, out, tmp_path, ONLY="pytorch-bf16",
               ARCHIVE=archive).check_returncode()
    assert sorted(path.name for path in archive.parent.iterdir()) == ["part1.tar.gz"]
    inside = run_checks(tmp_path, out, tmp_path, ONLY="pytorch-bf16",
                        ARCHIVE=out / "part1.tar.gz")
    assert inside.returncode == 2 and "inside OUT_DIR" in inside.stderr


def write_subset_files(directory):
    """The four official names, holding the bundled subset: the right files, not the full set."""
    from d2l_alexnet.core.data import FILE_NAMES, SUBSET_DIR
    directory.mkdir()
    for name in FILE_NAMES.values():
        source = next(SUBSET_DIR.glob(name + "*"))
        shutil.copy(source, directory / (name + "".join(source.suffixes[-1:])))


@pytest.mark.parametrize("data", ["none", "empty", "missing", "subset"])
def test_without_the_full_fashion_mnist_the_pass_does_not_start(tmp_path, data):
    """The library's own loader decides, with the real Python: no step runs on a subset or
    fails after its measurements for want of data."""
    out = tmp_path / "out"
    folder = {"none": "", "empty": tmp_path / "empty", "missing": tmp_path / "nowhere",
              "subset": tmp_path / "subset"}[data]
    if data == "empty":
        folder.mkdir()
    if data == "subset":
        write_subset_files(folder)
    checks = run_checks(tmp_path, out, folder, PYTHON=sys.executable,
                        HOME=str(tmp_path / "home"), ONLY="pytorch-bf16")
    assert checks.returncode == 2 and not out.exists()
    message = checks.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "carry" in message and "DATA_DIR" in message and ".gz" in message


def test_a_benchmark_loads_its_end_to_end_data_before_it_measures(monkeypatch):
    """A data fault costs seconds, not the measurements (and a GPU's compilations) before it."""
    measured = []

    class Trainer:
        def __init__(self, **options):
            self.device = "cpu"

        def setup(self, model, data):
            return self

        def prepare_batch(self, images, labels):
            return images, labels

        def select_device(self, device):
            return device

        def decide_data_on_device(self, data):
            return False

    def fashion_mnist(**options):
        raise DataError("no Fashion-MNIST here")

    backend = types.SimpleNamespace(set_seed=lambda seed: None, Trainer=Trainer,
                                    AlexNet=lambda **options: object(),
                                    FashionMNIST=fashion_mnist)
    hooks = types.SimpleNamespace(
        matmul_benchmark=lambda *args: measured.append("matmul") or (lambda: None, 1.0))
    monkeypatch.setattr(bench, "load_backend", lambda name: backend)
    monkeypatch.setattr(bench, "load_bench_hooks", lambda module: hooks)
    with pytest.raises(DataError):
        bench.measure("pytorch", batch_size=2, steps=1, log=lambda message: None)
    assert measured == []
