"""The package works without the repository: the wheel ``python -m build`` makes, installed into
a fresh virtual environment, carries the embedded Fashion-MNIST subset and trains AlexNet for two
steps; the sdist built beside it installs there too and answers ``--version``.

The wheel and its own dependencies (numpy, matplotlib, Pillow, safetensors, tqdm and pooch,
pinned by the test constraints) are really installed; the framework is borrowed from the
suite's environment through a path entry, which spares a second 700 MB PyTorch install and
cannot bring the repository's ``d2l_alexnet`` along (the test checks where it was imported
from). Built and installed once, in the PyTorch suite.
"""

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

from repository import REPO

CONSTRAINTS = os.path.join(REPO, "constraints", "ci.txt")


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_wheel_installs_into_a_fresh_environment_and_trains(d2l, backend_name, tmp_path):
    if backend_name != "pytorch":
        pytest.skip("the wheel is built and installed once, in the PyTorch suite")
    import d2l_alexnet

    dist = tmp_path / "dist"
    # Not from the repository's folder, whose build/ output would shadow the build package.
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), REPO],
        cwd=tmp_path)
    (wheel,) = dist.glob(f"d2l_alexnet-{d2l_alexnet.__version__}-*.whl")
    (sdist,) = dist.glob(f"d2l_alexnet-{d2l_alexnet.__version__}.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert "d2l_alexnet/py.typed" in names and "d2l_alexnet/__main__.py" in names
    metadata = zipfile.ZipFile(wheel).read(
        f"d2l_alexnet-{d2l_alexnet.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT AND CC-BY-SA-4.0" in metadata
    assert "License-File: LICENSE-CHAPTER.md" in metadata
    sdist_names = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CHAPTER.md",
                 "d2l_alexnet/py.typed", "d2l_alexnet/core/trainer.py"):
        assert name in sdist_names, f"the sdist lacks {name}"
    packages = ("torch", "tensorflow", "jax", "mxnet")
    backend_files = [f"d2l_alexnet/{package}/{name}" for package in packages
                     for name in ("__init__.py", "model.py", "trainer.py", "bench.py")]
    for name in ("d2l_alexnet/core/images.py", "d2l_alexnet/core/contract.py", *backend_files,
                 "d2l_alexnet/data/fashion_mnist_subset/manifest.json",
                 "d2l_alexnet/data/fashion_mnist_subset/train-images-idx3-ubyte.gz",
                 "d2l_alexnet/data/fashion_mnist_subset/t10k-labels-idx1-ubyte.gz"):
        assert name in names, f"the wheel lacks {name}"
    assert not any(name.startswith(("tests/", "tools/", "notebooks/")) for name in names)

    env_dir = tmp_path / "env"
    run([sys.executable, "-m", "venv", str(env_dir)])
    python = str(env_dir / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c",
         CONSTRAINTS, str(wheel)])
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
               ).stdout.strip()
    with open(os.path.join(site, "borrowed-framework.pth"), "w") as stream:
        stream.write(sysconfig.get_paths()["purelib"] + "\n")  # appended after the env's own

    work = tmp_path / "elsewhere"  # not the repository: nothing of it on the path
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    found = run([python, "-c", "import d2l_alexnet; from d2l_alexnet.core.data import "
                 "load_embedded_subset as subset; "
                 "print(d2l_alexnet.__file__, len(subset().train_labels))"],
                cwd=work, env=env).stdout.split()
    assert found[0].startswith(str(env_dir)), f"imported {found[0]}, not the installed wheel"
    assert found[1] == "3000"  # the embedded subset came with the wheel
    result = run([python, "-m", "d2l_alexnet.train", "--backend", "pytorch", "--epochs", "1",
                  "--batch-size", "8", "--limit-train", "16", "--limit-val", "8", "--resize",
                  "67", "--out", str(work / "run")], cwd=work, env=env)
    assert "epoch 1/1: train_loss" in result.stdout
    assert (work / "run" / "weights.safetensors").exists()

    # The sdist builds and installs in its place (its wheel made in pip's own build environment).
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--force-reinstall", str(sdist)], cwd=work, env=env)
    version = run([python, "-m", "d2l_alexnet", "--version"], cwd=work, env=env).stdout
    assert version.strip() == f"d2l-alexnet {d2l_alexnet.__version__}"
    assert run([python, "-c", "import d2l_alexnet; print(d2l_alexnet.__file__)"], cwd=work,
               env=env).stdout.startswith(str(env_dir))
