from d2l_alexnet.core.hyperparameters import HyperParameters


class Example(HyperParameters):
    def __init__(self, a, b=2, _private=3, skipped=4):
        self.save_hyperparameters(ignore=["skipped"])


class Child(Example):
    def __init__(self, c=5):
        super().__init__(a=1)
        self.save_hyperparameters()


def test_arguments_become_attributes():
    example = Example(1, b=7)
    assert (example.a, example.b) == (1, 7)
    assert not hasattr(example, "skipped") and not hasattr(example, "_private")
    assert example.hparams == {"a": 1, "b": 7}


def test_subclass_keeps_both_levels():
    child = Child()
    assert (child.a, child.b, child.c) == (1, 2, 5)
    assert child.hparams == {"c": 5}
