"""Command-line refusals that need no framework."""

import importlib.util

import pytest

from d2l_alexnet import backends, train
from d2l_alexnet.backends import BackendError, canonical_name, load_backend


def test_names_and_aliases():
    assert canonical_name("torch") == "pytorch" and canonical_name("TF") == "tensorflow"
    with pytest.raises(BackendError, match="choose one of pytorch, tensorflow, jax, mxnet"):
        canonical_name("caffe")


@pytest.mark.parametrize("name, hint", [("pytorch", "d2l-alexnet[torch]"),
                                        ("jax", "d2l-alexnet[jax]"),
                                        ("mxnet", "make mxnet-env")])
def test_missing_framework_exits_2_with_the_fix(monkeypatch, capsys, tmp_path, name, hint):
    real = importlib.util.find_spec
    missing = backends.BACKENDS[name].framework
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda module, *a: None if module == missing else real(module, *a))
    out = tmp_path / "run"
    assert train.main(["--backend", name, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert hint in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_mxnet_on_new_python_says_which_python(monkeypatch):
    monkeypatch.setattr(backends.sys, "version_info", (3, 12, 0))
    with pytest.raises(BackendError, match="Python 3.11 or older"):
        load_backend("mxnet")


def test_unwritable_out_exits_2(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    # pytorch may be absent from this environment: then the framework message comes first.
    code = train.main(["--backend", "pytorch", "--out", str(blocker / "run")])
    assert code == 2
    assert "error:" in capsys.readouterr().err
