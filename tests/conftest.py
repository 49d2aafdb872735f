"""Shared test options: which backend the contract suite runs against.

Each backend runs in its own pytest process (frameworks clash in one process):
``pytest tests/contract --backend tensorflow``. Without ``--backend``, ``D2L_ALEXNET_BACKEND`` or
``pytorch`` is used, and the suite skips when that framework is not installed; a backend named
explicitly must be importable, so CI can never pass by skipping.
"""

import os
import subprocess

import pytest


def pytest_addoption(parser):
    parser.addoption("--backend", default=None,
                     help="backend for the contract suite: pytorch, tensorflow, jax or mxnet")


@pytest.fixture(scope="session")
def backend_name(request):
    return request.config.getoption("--backend") or os.environ.get("D2L_ALEXNET_BACKEND",
                                                                     "pytorch")


@pytest.fixture(scope="session")
def d2l(request, backend_name):
    """The backend module, e.g. ``d2l_alexnet.torch``."""
    from d2l_alexnet.backends import BackendError, load_backend

    try:
        return load_backend(backend_name)
    except BackendError as error:
        if request.config.getoption("--backend"):
            raise
        pytest.skip(str(error))


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(name, options)``: a real small filesystem mounted at ``tmp_path/name`` (``"ro,
    size=1m"``: read-only, which root cannot write through as it can through a chmod), unmounted
    at the end; skips where mounting needs a root this process is not."""
    mounted = []

    def mount(name, options):
        if os.geteuid() != 0:
            pytest.skip("mounting a filesystem needs root")
        folder = tmp_path / name
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)
