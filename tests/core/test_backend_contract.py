"""``core/contract.py``: the written-down contract finds what a backend lacks (the backends
themselves are checked against it in ``tests/contract/test_contract.py``)."""

import types

from d2l_alexnet.core import contract
from d2l_alexnet.core.module import ModuleContract
from d2l_alexnet.core.trainer import TrainerBase


def complete_backend():
    """A module with every public name, a Trainer with every hook and a model with every hook."""
    backend = types.ModuleType("fake_backend")
    for name in contract.PUBLIC_NAMES:
        setattr(backend, name, lambda *args, **kwargs: None)
    backend.LAYOUT, backend.PRECISIONS = "NCHW", ("fp32",)
    backend.Trainer = type("Trainer", (TrainerBase,), {
        hook: lambda self, *args: None for hook in contract.TRAINER_HOOKS})
    backend.AlexNet = type("AlexNet", (ModuleContract,), {
        hook: lambda self, *args: None for hook in contract.MODEL_HOOKS})
    backend.__all__ = list(contract.PUBLIC_NAMES)
    return backend


def test_a_backend_with_everything_meets_the_contract():
    backend = complete_backend()
    assert contract.problems(backend) == []
    assert isinstance(backend, contract.BackendModule)


def test_a_missing_name_and_a_different_all_are_named():
    backend = complete_backend()
    del backend.initialize_distributed
    backend.__all__ = [name for name in contract.PUBLIC_NAMES if name != "cpu"] + ["extra"]
    found = contract.problems(backend)
    assert found[0] == "fake_backend lacks initialize_distributed"
    assert found[1] == ("fake_backend.__all__ differs from PUBLIC_NAMES (extra ['extra'], "
                        "absent ['cpu'])")
    assert not isinstance(backend, contract.BackendModule)


def test_hooks_left_to_the_base_classes_are_named():
    backend = complete_backend()
    backend.Trainer = type("Trainer", (TrainerBase,), {
        hook: lambda self, *args: None for hook in contract.TRAINER_HOOKS if hook != "eval_step"})
    backend.AlexNet = type("AlexNet", (ModuleContract,), {
        hook: lambda self, *args: None for hook in contract.MODEL_HOOKS
        if hook != "evaluate_batch"})
    assert contract.problems(backend) == ["fake_backend.Trainer does not override eval_step",
                                          "fake_backend.AlexNet does not override evaluate_batch"]


def test_the_contract_names_each_thing_once():
    for names in (contract.PUBLIC_NAMES, contract.TRAINER_HOOKS, contract.MODEL_HOOKS,
                  contract.BENCH_HOOKS):
        assert len(set(names)) == len(names)
    assert not set(contract.BENCH_HOOKS) & set(contract.PUBLIC_NAMES)
