"""Our AlexNet inside the book's own ``d2l`` package (1.0.3), and the book's models inside ours.

Runs where ``d2l`` is installed (``make test`` installs it without its pins for PyTorch and
MXNet: see the Makefile). ``d2l.torch`` imports torchvision at module level for its own
Fashion-MNIST, and no torchvision wheel imports beside the CPU build of PyTorch these tests pin,
so a stand-in module takes its place (nothing here reads data through it); ``d2l.jax`` likewise
needs ``tensorflow_datasets`` and is imported in a process of its own (it imports TensorFlow).
"""

import sys
import types

import numpy as np
import pytest

SMALL = 67


def imports_tensorflow(module_name):
    """Whether the book's ``module_name`` imports TensorFlow (or its datasets) at module level,
    read from its source without importing it."""
    import importlib.util
    import re

    with open(importlib.util.find_spec(module_name).origin, encoding="utf-8") as source:
        return re.search(r"^(import|from) tensorflow", source.read(), re.MULTILINE) is not None


@pytest.fixture(scope="module")
def book(backend_name):
    pytest.importorskip("d2l")
    module_name = f"d2l.{ {'pytorch': 'torch'}.get(backend_name, backend_name) }"
    if backend_name != "tensorflow" and imports_tensorflow(module_name):
        pytest.skip(f"{module_name} imports TensorFlow, which must not share a process with "
                    f"{backend_name} (tests/backends/test_jax.py runs the book's JAX Trainer in "
                    "a process of its own)")
    if backend_name == "pytorch":
        stand_in = types.ModuleType("torchvision")
        stand_in.transforms = types.ModuleType("torchvision.transforms")
        sys.modules.setdefault("torchvision", stand_in)
        sys.modules.setdefault("torchvision.transforms", stand_in.transforms)
    import importlib

    return importlib.import_module(module_name)


def test_the_books_trainer_fits_our_alexnet_and_plots_as_the_books_models_do(d2l, backend_name,
                                                                             book):
    from test_reuse import native_loader_module

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, SMALL, SMALL, 1), dtype=np.uint8)
    labels = (np.arange(32) % 10).astype(np.int64)
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    before = d2l.parameter_arrays(model)[0][1].copy()
    data = native_loader_module(d2l, backend_name, images, labels, base=book.DataModule)
    book.Trainer(max_epochs=2).fit(model, data)
    assert model.board.xlim == [0, 2]
    series = model.board.series
    # Four batches an epoch, so two points an epoch of training loss, each the mean of two
    # batches (their x too, as the book's board draws them); one point of validation.
    assert series["train_loss"][0] == [0.125, 0.625, 1.125, 1.625]
    assert series["val_loss"][0] == series["val_acc"][0] == [1.0, 2.0]
    assert all(np.isfinite(series["train_loss"][1]))
    assert not np.array_equal(before, d2l.parameter_arrays(model)[0][1]), "it did not train"


def test_our_trainer_leaves_the_books_board_alone(d2l, backend_name):
    """Under our Trainer, plot() costs nothing: no point, no read from the device."""
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=16, limit_val=8)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    trainer.fit(model, data)
    assert model.board.series == {}
    assert set(trainer.board.series) == {"train_loss", "val_loss", "val_acc"}


def test_our_trainer_fits_the_books_lenet_with_checkpoints_and_exact_resume(d2l, backend_name,
                                                                           book, tmp_path):
    if backend_name != "pytorch":
        pytest.skip("the reverse direction is PyTorch's (the book's LeNet there)")
    import torch

    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint
    from d2l_alexnet.core.trainer import TrainingInterrupted

    data = d2l.FashionMNIST(batch_size=32, resize=(28, 28), limit_train=128, limit_val=64,
                            log=None)
    first = next(iter(data.train_dataloader()))[0]

    def lenet():
        torch.manual_seed(0)
        model = book.LeNet(lr=0.1)
        model.apply_init([first], book.init_cnn)
        return model

    def trainer(stop_at=None):
        d2l.set_seed(0)
        made = d2l.Trainer(max_epochs=2, progress=False, log=None)
        if stop_at is not None:
            made.step_callbacks.append(lambda t: setattr(t, "stop_requested", "test")
                                       if t.step == stop_at else None)
        return made

    straight_model = lenet()
    straight = trainer().fit(straight_model, data)
    assert straight[-1]["train_loss"] < straight[0]["train_loss"] + 0.05
    assert straight_model.board.display is False  # the book's board: ours draws instead
    interrupted = trainer(stop_at=3)
    checkpointer = Checkpointer(tmp_path, log=None).attach(interrupted)
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(lenet(), data)
    saved = read_checkpoint(checkpointer.save(interrupted))
    resumed_model = lenet()
    resumed = trainer().fit(resumed_model, data, resume=saved)
    timing = ("seconds", "val_seconds", "images_per_sec")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed] == [
        {k: v for k, v in r.items() if k not in timing} for r in straight]
    for (name, a), (_, b) in zip(straight_model.named_parameters(),
                                 resumed_model.named_parameters()):
        assert torch.equal(a, b), name


def test_our_mxnet_trainer_fits_the_books_mxnet_lenet(d2l, backend_name, book):
    if backend_name != "mxnet":
        pytest.skip("the book's MXNet LeNet, under our MXNet Trainer")
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=48, limit_val=16,
                            log=None)
    d2l.set_seed(0)
    history = d2l.Trainer(max_epochs=2, progress=False, log=None).fit(book.LeNet(lr=0.1), data)
    assert [record["epoch"] for record in history] == [1, 2]
    assert all(np.isfinite(record["train_loss"]) for record in history)
    assert 0.0 <= history[-1]["val_acc"] <= 1.0


def test_a_book_model_we_cannot_fit_is_refused_in_one_line(d2l, backend_name, book):
    if backend_name != "pytorch":
        pytest.skip("the reverse direction is PyTorch's")
    data = d2l.FashionMNIST(batch_size=8, resize=(28, 28), limit_train=8, limit_val=8, log=None)
    with pytest.raises(ValueError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(book.LeNet(), data)
    # The book's own Trainer makes lazy layers at its first batch (its DenseNet cell trains
    # so): the line said "as the book does", which it does not.
    assert ("lazy layers), which this Trainer needs before its first step (the book's makes "
            "them at its first batch): run model.apply_init([X], d2l.init_cnn) first, X a "
            "batch of the data (next(iter(data.train_dataloader()))[0])") in str(error.value)
    assert "as the book does" not in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(TypeError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(book.LinearRegression(0.1), data)
    assert str(error.value).startswith("LinearRegression lacks accuracy: the Trainer fits models "
                                       "written as the book's d2l.Classifier")


# ---- The book's tensor aliases and the ResNet chapter's first cells ------------------------

def books_source(backend_name):
    """The source of the book's module for ``backend_name`` and its parsed tree, read from the
    installed package without importing it (it would import other frameworks); skips where
    ``d2l`` is not installed."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("d2l")
    if spec is None or spec.origin is None:
        pytest.skip("the book's d2l package is not installed (pip install --no-deps d2l==1.0.3)")
    name = {"pytorch": "torch"}.get(backend_name, backend_name)
    source = (Path(spec.origin).parent / f"{name}.py").read_text(encoding="utf-8")
    return source, ast.parse(source)


def books_aliases(backend_name):
    """``{name: statement}``: the book's tensor aliases, the one-line assignments under its
    module's ``# Alias defined in config.ini`` line, and those its hand-written head makes
    before the generated part (``nn_Module``; JAX's ``get_key``). Its ``get_seed`` only feeds its
    ``get_key``, and the head's constants (``DATA_URL``...) are no aliases."""
    import ast

    source, tree = books_source(backend_name)
    lines = source.splitlines()
    aliases_from = next(number for number, line in enumerate(lines, 1)
                        if line.startswith("# Alias defined in config.ini"))
    generated_from = next(number for number, line in enumerate(lines, 1) if "WARNING" in line)
    found = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        in_head = (node.lineno < generated_from and not name.isupper() and name != "get_seed"
                   and isinstance(node.value, (ast.Attribute, ast.Lambda)))
        if node.lineno > aliases_from or in_head:
            found[name] = node
    assert "ones" in found and "reshape" in found, "the book's alias lines were not found"
    return found


def framework_names(d2l, backend_name):
    """The framework under the names the book's module imports it as."""
    if backend_name == "pytorch":
        return {"torch": d2l.torch, "nn": d2l.nn, "F": d2l.F}
    if backend_name == "tensorflow":
        return {"tf": d2l.tf}
    if backend_name == "jax":
        return {"jax": d2l.jax, "jnp": d2l.jnp, "np": np, "nn": d2l.nn}
    from mxnet import np as mxnp, npx

    return {"np": mxnp, "npx": npx, "nn": d2l.nn}


@pytest.fixture
def book_mode(backend_name):
    """MXNet's NumPy mode, which the book's MXNet code turns on first (``npx.set_np()``), on for
    one test; nothing in the other backends."""
    if backend_name != "mxnet":
        yield
        return
    from mxnet import npx

    npx.set_np()
    try:
        yield
    finally:
        npx.reset_np()


def alias_arguments(backend_name, book):
    """A small call of each of the book's aliases that takes arguments: ``{name: args}``."""
    x = book["tensor"]([[0.5, 1.0, 2.0], [1.5, 0.25, 3.0]])
    y = book["tensor"]([[1.0, 2.0], [0.5, 1.5], [2.0, 0.25]])
    batches = book["tensor"]([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]] * 2)
    called = {name: (x,) for name in ("sin", "sinh", "cos", "cosh", "tanh", "exp", "log", "abs",
                                      "sigmoid", "ones_like", "zeros_like", "numpy", "size",
                                      "transpose", "reduce_sum", "reduce_mean")}
    called.update(
        ones=((2, 3),), zeros=((2, 3),), eye=(3,), tensor=([[1.0, 2.0], [3.0, 4.0]],),
        arange=(5,), linspace=(0.0, 1.0, 5), matmul=(x, y), concat=((x, x), 0),
        stack=((x, x), 0), reshape=(x, (3, 2)), argmax=(x, 1), astype=(x, book["int32"]),
        expand_dims=(x, 0), swapaxes=(x, 0, 1),
        batch_matmul=(batches, book["tensor"]([[[1.0], [2.0], [3.0]]] * 2)),
        # PyTorch's repeat tiles (a count per axis); the others repeat along one axis.
        repeat=(x, 2, 1) if backend_name == "pytorch" else (x, 2, 0))
    if backend_name == "tensorflow":
        called.update(normal=((2, 3),), rand=((2, 3),))
    else:
        called.update(normal=(0.0, 1.0, (2, 3)), rand=(2, 3), randn=(2, 3))
    if backend_name == "pytorch":
        called["to"] = (x, "cpu")
    elif backend_name == "jax":
        called["to"] = (x, book["jax"].devices("cpu")[0])
    elif backend_name == "mxnet":
        import mxnet as mx

        called["to"] = (x, mx.cpu())
    return called


def assert_same_result(ours, theirs, name):
    from d2l_alexnet.core.arrays import host_array

    assert type(ours) is type(theirs), (name, type(ours), type(theirs))
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs), name
        for mine, book_value in zip(ours, theirs):
            assert_same_result(mine, book_value, name)
        return
    mine, book_value = host_array(ours), host_array(theirs)
    assert (mine.dtype, mine.shape) == (book_value.dtype, book_value.shape), name
    np.testing.assert_array_equal(mine, book_value, err_msg=name)


def test_the_books_tensor_aliases_mean_what_they_mean_in_the_book(d2l, backend_name, book_mode):
    """The book's later chapters call its aliases (ResNet's ``d2l.randn(4, 3, 6, 6)``,
    ``d2l.normal((4, 6, 6, 3))``, the BatchNorm chapter's ``d2l.reshape``): each of the book's
    module, read from its source, is ours too, and gives what the book's gives on a small call
    (the random ones from the same seed)."""
    import ast

    statements = books_aliases(backend_name)
    missing = sorted(name for name in statements if not hasattr(d2l, name))
    assert not missing, f"{d2l.__name__} lacks the book's {', '.join(missing)}"
    # The book's own values: its alias lines run over the framework alone.
    book = framework_names(d2l, backend_name)
    for name, statement in statements.items():
        if name != "get_key":  # (its draws are unseeded: tested below)
            exec(compile(ast.Module([statement], []), "<d2l aliases>", "exec"), book)
    arguments = alias_arguments(backend_name, book)
    for name in statements:
        if name == "get_key":
            continue
        if name not in arguments:  # a type, a dtype
            assert getattr(d2l, name) == book[name], name
            continue
        results = []
        for aliases in (d2l, book):
            d2l.set_seed(0)  # the same draws for the random ones
            function = getattr(aliases, name) if aliases is d2l else aliases[name]
            results.append(function(*arguments[name]))
        assert_same_result(*results, name)
    d2l.set_seed(0)


def test_get_key_gives_a_fresh_key_each_call_from_the_seed(d2l, backend_name):
    """JAX's cells ask ``d2l.get_key()`` for a key each time (ResNet, DenseNet): a real key,
    another at every call, and the same sequence again after ``set_seed``."""
    if backend_name != "jax":
        pytest.skip("get_key is the book's JAX key source")
    jax = d2l.jax
    d2l.set_seed(7)
    first, second = d2l.get_key(), d2l.get_key()
    d2l.set_seed(7)
    again = d2l.get_key()
    d2l.set_seed(0)
    data = [np.asarray(jax.random.key_data(key)) for key in (first, second, again)]
    assert not np.array_equal(data[0], data[1])
    np.testing.assert_array_equal(data[0], data[2])
    assert jax.random.normal(first, (4, 6, 6, 3)).shape == (4, 6, 6, 3)


# The ResNet chapter's two trials of its Residual block (sec_resnet), as the book writes each
# framework's cells, and the shapes they show.
RESIDUAL_TRIALS = {
    "pytorch": ("blk = Residual(3)\nX = d2l.randn(4, 3, 6, 6)\nblk(X).shape",
                "blk = Residual(6, use_1x1conv=True, strides=2)\nblk(X).shape"),
    "mxnet": ("blk = Residual(3)\nblk.initialize()\nX = d2l.randn(4, 3, 6, 6)\nblk(X).shape",
              "blk = Residual(6, use_1x1conv=True, strides=2)\nblk.initialize()\nblk(X).shape"),
    "tensorflow": ("blk = Residual(3)\nX = d2l.normal((4, 6, 6, 3))\nY = blk(X)\nY.shape",
                   "blk = Residual(6, use_1x1conv=True, strides=2)\nblk(X).shape"),
    "jax": ("blk = Residual(3)\nX = jax.random.normal(d2l.get_key(), (4, 6, 6, 3))\n"
            "blk.init_with_output(d2l.get_key(), X)[0].shape",
            "blk = Residual(6, use_1x1conv=True, strides=(2, 2))\n"
            "blk.init_with_output(d2l.get_key(), X)[0].shape"),
}


def run_cell(code, names):
    """Run a notebook cell's ``code`` in ``names``; the value of its last line, as a notebook
    shows it."""
    import ast

    tree = ast.parse(code)
    *body, last = tree.body
    exec(compile(ast.Module(body, []), "<cell>", "exec"), names)
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), names)


def test_the_resnet_chapters_residual_block_trials_run_as_the_book_writes_them(
        d2l, backend_name, book_mode):
    """The book's ``Residual`` (read from its module's source) and its two trial cells, under
    ``from d2l_alexnet import <framework> as d2l``: they called ``d2l.randn``, ``d2l.normal``
    and ``d2l.get_key``, which were missing."""
    import ast

    source, tree = books_source(backend_name)
    residual = next(node for node in tree.body
                    if isinstance(node, ast.ClassDef) and node.name == "Residual")
    names = {**framework_names(d2l, backend_name), "d2l": d2l}
    exec(ast.get_source_segment(source, residual), names)
    channels_first = backend_name in ("pytorch", "mxnet")
    same, halved = RESIDUAL_TRIALS[backend_name]
    assert tuple(run_cell(same, names)) == ((4, 3, 6, 6) if channels_first else (4, 6, 6, 3))
    assert tuple(run_cell(halved, names)) == ((4, 6, 3, 3) if channels_first else (4, 3, 3, 6))
