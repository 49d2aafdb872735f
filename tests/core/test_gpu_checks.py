"""benchmarks/gpu_checks.sh, the one pass a lent GPU gets: every step runs even after one fails,
each step's status is listed, and the archive that comes back leaves the weights out. A stub
stands in for Python, so no framework or GPU is needed."""

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_checks.sh"
STEPS = ["pytorch-fp32", "pytorch-bf16", "pytorch-bf16-sweep", "tta-pytorch-bf16", "jax-bf16",
         "tta-jax-bf16", "cpu2-onednn", "cpu2-profile-fp32", "cpu2-profile-bf16",
         "chapter-pytorch-fp32", "jax-fp32"]

# Writes a weights file where a command names --out, and fails for the JAX bf16 benchmark.
STUB = """#!/usr/bin/env bash
args="$*"
out=""
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
if [ -n "$out" ]; then mkdir -p "$out"; echo w >"$out/weights.safetensors"; echo m >"$out/metrics.json"; fi
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
    assert not [name for name in names if name.endswith(".safetensors")]
