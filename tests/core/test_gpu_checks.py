"""benchmarks/gpu_checks.sh, the one pass a lent GPU gets: every step runs even after one fails,
each step's status is listed, and the archive that comes back leaves the weights out. A stub
stands in for Python, so no framework or GPU is needed."""

import shutil
import subprocess
import tarfile
import types
from pathlib import Path

import pytest

from d2l_alexnet import bench
from d2l_alexnet.core.data import DataError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_checks.sh"
STEPS = ["pytorch-bf16", "pytorch-bf16-compile", "plain-bf16", "pytorch-fp32",
         "pytorch-fp32-compile", "plain-fp32", "chapter-pytorch-fp32", "first-layer-filters",
         "tta-pytorch-bf16", "tta-pytorch-bf16-compile", "jax-bf16", "tta-jax-bf16",
         "pytorch-bf16-512-compile", "plain-bf16-512", "pytorch-bf16-host-data",
         "fast10-pytorch-bf16", "fast10-pytorch-bf16-augment"]

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
"""


@pytest.mark.skipif(shutil.which("timeout") is None or shutil.which("taskset") is None,
                    reason="needs coreutils' timeout and util-linux's taskset")
def test_every_step_runs_is_listed_and_the_archive_leaves_weights_out(tmp_path):
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    out, archive = tmp_path / "out", tmp_path / "gpu.tar.gz"
    subprocess.run(["bash", str(SCRIPT), str(out), str(tmp_path / "data")], check=True,
                   env={"PATH": "/usr/bin:/bin", "PYTHON": str(stub), "ARCHIVE": str(archive)},
                   capture_output=True, text=True, timeout=120)

    lines = (out / "summary.txt").read_text().splitlines()
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


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")
def test_only_and_skip_choose_the_steps_of_a_pass_taken_in_two_calls(tmp_path):
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    first = STEPS[:STEPS.index("first-layer-filters") + 1]
    ran = []
    for name, selection in (("first", {"ONLY": " ".join(first)}),
                            ("second", {"SKIP": " ".join(first)})):
        out = tmp_path / name
        subprocess.run(["bash", str(SCRIPT), str(out)], check=True, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "PYTHON": str(stub), **selection},
                       text=True, timeout=120)
        ran.append([line.split()[0] for line in (out / "summary.txt").read_text().splitlines()])
    assert ran[0] == first and first + ran[1] == STEPS


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
