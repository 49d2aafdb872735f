"""``import d2l_alexnet`` and its core import no deep-learning framework."""

import importlib
import json
import os
import re
import subprocess
import sys

from repository import REPO

FRAMEWORKS = ("torch", "tensorflow", "jax", "flax", "mxnet", "keras")


def test_core_imports_no_framework():
    code = (
        "import sys, d2l_alexnet, d2l_alexnet.backends, d2l_alexnet.train, d2l_alexnet.cost, "
        "d2l_alexnet.filters\n"
        "from d2l_alexnet.core import architecture, cost, data, datamodule, files, module, "
        "progress, trainer, notebook, filters\n"
        # tensorboardX imports PyTorch when it can: the callback hides it from it
        "from d2l_alexnet.core.callbacks import TensorBoardLog\nTensorBoardLog('logs')\n"
        f"print(sorted(name for name in {FRAMEWORKS!r} if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def run_module(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


def test_the_version_is_written_once():
    import tomllib  # Python 3.11+, as the test environments are

    import d2l_alexnet

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as stream:
        project = tomllib.load(stream)
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "d2l_alexnet.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", d2l_alexnet.__version__)


def test_every_command_answers_version_without_importing_a_framework():
    from d2l_alexnet import __version__
    from d2l_alexnet.__main__ import COMMANDS

    for command in COMMANDS:
        result = run_module(f"d2l_alexnet.{command}", "--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"d2l-alexnet {__version__} ({command})"
    result = run_module("d2l_alexnet", "--version")
    assert result.stdout.strip() == f"d2l-alexnet {__version__}"


def test_python_m_d2l_alexnet_lists_the_commands_and_runs_them():
    from d2l_alexnet.__main__ import COMMANDS

    listing = run_module("d2l_alexnet")
    assert listing.returncode == 0
    listed = re.findall(r"^  (\w+)  ", listing.stdout, re.M)
    assert listed == list(COMMANDS)
    for command in COMMANDS:  # each is a module with a main(argv)
        assert callable(importlib.import_module(f"d2l_alexnet.{command}").main)
    table = run_module("d2l_alexnet", "cost", "--resize", "67", "--json")
    assert table.returncode == 0, table.stderr
    assert json.loads(table.stdout)["resize"] == 67
    unknown = run_module("d2l_alexnet", "tran")
    assert unknown.returncode == 2
    assert "no command 'tran'" in unknown.stderr and "train" in unknown.stderr


def test_the_package_says_it_is_typed():
    assert os.path.exists(os.path.join(REPO, "d2l_alexnet", "py.typed"))
