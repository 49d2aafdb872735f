"""One network, four frameworks: the same canonical weights give the same numbers everywhere.

PyTorch is the reference: it writes a fixture (``parity_fixture.py``) that every other backend's
suite checks against, each in its own process and MXNet in its own environment (in the pytorch
suite the comparisons skip, since PyTorch would agree with itself, and only the reference is
checked):

- the evaluation-mode logits of the same weights on the same batch agree within 1e-4 (relative to
  the largest logit), in fp32;
- one SGD step with dropout off moves every parameter by the same amount (the update, not just
  the updated weights, is compared, so a wrong gradient cannot hide behind the weights' size);
- the model trained briefly in PyTorch has the same validation accuracy (within one image) and
  loss when evaluated by this backend's Trainer.

Under ``tools/run_tests.py`` (``make test``) the fixture lives in ``D2L_ALEXNET_PARITY_DIR``,
written by PyTorch before any suite starts. Without that variable the pytorch suite writes
its own, and another backend's suite has PyTorch write one in a subprocess, or skips where
PyTorch is not installed (the MXNet environment).
"""

import importlib.util
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import parity_fixture
from parity_fixture import (ENV, MANIFEST, RESIZE, canonical_after_fit, one_batch,
                            with_split)
from parity_fixture import logits as parity_logits
from d2l_alexnet.core.weights import load_safetensors
from repository import child_env

LOGIT_TOLERANCE = 1e-4  # relative to the largest logit, fp32
STEP_TOLERANCE = 1e-3  # relative to the largest update of each tensor, fp32


@pytest.fixture(scope="session")
def parity(backend_name, d2l, tmp_path_factory):
    """The fixture's contents: ``directory``, ``manifest`` (dict) and ``arrays`` (npz)."""
    directory = os.environ.get(ENV)
    if backend_name == "pytorch":
        # The reference: tools/run_tests.py has it written before the suites start (they run
        # side by side); without one, it is written here, in this process.
        if not (directory and os.path.exists(os.path.join(directory, MANIFEST))):
            directory = directory or str(tmp_path_factory.mktemp("parity"))
            parity_fixture.write(directory)
    elif not directory:
        if importlib.util.find_spec("torch") is None:
            pytest.skip("the parity fixture is written by PyTorch, not installed here: run "
                        "tools/run_tests.py (make test), which shares one across environments")
        directory = str(tmp_path_factory.mktemp("parity"))
        env = child_env()
        subprocess.run([sys.executable, parity_fixture.__file__, directory], check=True,
                       env=env, timeout=600)
    elif not os.path.exists(os.path.join(directory, MANIFEST)):
        pytest.fail(f"{ENV}={directory} holds no parity fixture: tools/run_tests.py has PyTorch "
                    "write it before the suites start; did that fail?")
    with open(os.path.join(directory, MANIFEST)) as handle:
        manifest = json.load(handle)
    with np.load(os.path.join(directory, "arrays.npz")) as arrays:
        arrays = {name: arrays[name] for name in arrays.files}
    return SimpleNamespace(directory=directory, manifest=manifest, arrays=arrays,
                           trained=os.path.join(directory, "trained.safetensors"),
                           stepped=os.path.join(directory, "stepped.safetensors"))


def relative_difference(value, reference):
    return float(np.abs(value - reference).max() / np.abs(reference).max())


def skip_the_reference_itself(backend_name):
    """PyTorch computed the fixture: checked against it, PyTorch would agree with itself."""
    if backend_name == "pytorch":
        pytest.skip("PyTorch wrote the reference, so it would be compared with itself; its "
                    "suite checks the reference instead (test_the_reference_is_complete_and_"
                    "worth_comparing_against)")


# ---- the checks --------------------------------------------------------------------------------

def test_the_reference_is_complete_and_worth_comparing_against(parity):
    """What every backend's comparison relies on: a model that learned something, logits
    large enough to compare, a step that moved every tensor, and the arrays it names."""
    manifest, arrays = parity.manifest, parity.arrays
    assert manifest["resize"] == RESIZE and manifest["step_lr"] > 0
    assert manifest["val_acc"] >= 0.2, "the reference model learned too little to compare"
    assert manifest["num_val"] == len(arrays["val_labels"]) == len(arrays["val_images"]) > 0
    assert arrays["logits"].shape == (parity_fixture.BATCH, 10) == (len(arrays["labels"]), 10)
    assert np.abs(arrays["logits"]).max() > 0.01, "the reference logits are too small to compare"
    trained, _ = load_safetensors(parity.trained)
    stepped, _ = load_safetensors(parity.stepped)
    assert set(trained) == set(stepped) and len(trained) == 16
    assert not [name for name in trained if not np.abs(stepped[name] - trained[name]).max() > 0]


def test_logits_of_the_same_weights_agree(d2l, backend_name, parity):
    skip_the_reference_itself(backend_name)
    reference = parity.arrays["logits"]
    model = d2l.AlexNet(resize=RESIZE).load_weights(parity.trained)
    logits = parity_logits(d2l, model, parity.arrays["images"])
    assert logits.shape == reference.shape == (parity_fixture.BATCH, 10)
    assert np.abs(reference).max() > 0.01, "the reference logits are too small to compare"
    difference = relative_difference(logits, reference)
    print(f"{backend_name}: max logit difference {difference:.2e} of the largest logit")
    assert difference < LOGIT_TOLERANCE, difference


def test_one_sgd_step_without_dropout_updates_alike(d2l, backend_name, parity, tmp_path):
    skip_the_reference_itself(backend_name)
    trained, _ = load_safetensors(parity.trained)
    stepped, _ = load_safetensors(parity.stepped)
    model = d2l.AlexNet(lr=parity.manifest["step_lr"], resize=RESIZE, dropout=0.0)
    model.load_weights(parity.trained)
    data = one_batch(d2l, parity.arrays["images"], parity.arrays["labels"])
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    ours = canonical_after_fit(model, tmp_path / "stepped.safetensors")
    worst = 0.0
    for name, start in trained.items():
        reference_update = stepped[name] - start
        assert np.abs(reference_update).max() > 0, f"{name} did not move in PyTorch"
        difference = relative_difference(ours[name] - start, reference_update)
        worst = max(worst, difference)
        assert difference < STEP_TOLERANCE, (name, difference)
    print(f"{backend_name}: max update difference {worst:.2e} of the largest update")


def test_trained_weights_reach_the_same_accuracy(d2l, backend_name, parity):
    skip_the_reference_itself(backend_name)
    manifest = parity.manifest
    assert manifest["val_acc"] >= 0.2, "the reference model learned too little to compare"
    model = d2l.AlexNet(resize=RESIZE).load_weights(parity.trained)
    data = with_split(d2l, parity.arrays["val_images"], parity.arrays["val_labels"])
    result = d2l.Trainer(max_epochs=1, progress=False, log=None).evaluate(model, data)
    correct = round(result["val_acc"] * manifest["num_val"])
    reference = round(manifest["val_acc"] * manifest["num_val"])
    print(f"{backend_name}: {correct} correct, PyTorch {reference}, of {manifest['num_val']}")
    assert abs(correct - reference) <= 1
    assert result["val_loss"] == pytest.approx(manifest["val_loss"], rel=1e-4)
