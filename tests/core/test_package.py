"""``import d2l_alexnet`` and its core import no deep-learning framework."""

import subprocess
import sys

FRAMEWORKS = ("torch", "tensorflow", "jax", "flax", "mxnet", "keras")


def test_core_imports_no_framework():
    code = (
        "import sys, d2l_alexnet, d2l_alexnet.backends, d2l_alexnet.train, d2l_alexnet.cost, "
        "d2l_alexnet.filters\n"
        "from d2l_alexnet.core import architecture, cost, data, datamodule, files, module, "
        "progress, trainer, notebook, filters\n"
        f"print(sorted(name for name in {FRAMEWORKS!r} if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
