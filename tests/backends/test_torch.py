"""PyTorch-only checks: the book's skipped-init bug cannot come back, bf16 really computes in
bfloat16, a real allocation failure reads as out of memory, and ``compile=True`` computes what
the eager steps do, compiling once per batch shape."""

import importlib.util
import json
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from d2l_alexnet import torch as d2l  # noqa: E402
from d2l_alexnet.torch import trainer as torch_trainer  # noqa: E402
from d2l_alexnet.cli import out_of_memory_message  # noqa: E402
from d2l_alexnet.core.architecture import Layer  # noqa: E402
from d2l_alexnet.core.errors import DeviceError  # noqa: E402
from d2l_alexnet.core.trainer import ReplicaError  # noqa: E402
from d2l_alexnet.torch.runtime import CompilerMissing  # noqa: E402


def book_vgg_block(num_convs, out_channels):
    """The book's ``vgg_block`` (sec_vgg), as a lesson writes it."""
    layers = []
    for _ in range(num_convs):
        layers.append(torch.nn.LazyConv2d(out_channels, kernel_size=3, padding=1))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
    return torch.nn.Sequential(*layers)


class BookVGG(d2l.Classifier):
    """The book's VGG (sec_vgg), narrower: lazy layers, then ``self.net.apply(d2l.init_cnn)``."""

    def __init__(self, arch, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        conv_blks = [book_vgg_block(*block) for block in arch]
        self.net = torch.nn.Sequential(
            *conv_blks, torch.nn.Flatten(),
            torch.nn.LazyLinear(512), torch.nn.ReLU(), torch.nn.Dropout(0.5),
            torch.nn.LazyLinear(512), torch.nn.ReLU(), torch.nn.Dropout(0.5),
            torch.nn.LazyLinear(num_classes))
        self.net.apply(d2l.init_cnn)


class BookAlexNetCell(d2l.Classifier):
    """The book's AlexNet cell (sec_alexnet) as printed, ``self.net.apply(d2l.init_cnn)`` last."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        nn = torch.nn
        self.net = nn.Sequential(
            nn.LazyConv2d(96, kernel_size=11, stride=4, padding=1),
            nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LazyConv2d(256, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
            nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
            nn.LazyConv2d(256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
            nn.LazyLinear(num_classes))
        self.net.apply(d2l.init_cnn)


def weighted_layers(model):
    return [layer for layer in model.net.modules()
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear))]


def assert_xavier_initialized(layer):
    """Xavier-uniform weights (bound sqrt(6 / (fan_in + fan_out)), std bound / sqrt(3)) and zero
    biases, told apart from PyTorch's default (bound 1 / sqrt(fan_in), random biases)."""
    assert type(layer) in (torch.nn.Conv2d, torch.nn.Linear)  # materialized, no longer lazy
    weight = layer.weight.detach()
    receptive_field = weight[0][0].numel()
    fan_in, fan_out = weight.shape[1] * receptive_field, weight.shape[0] * receptive_field
    xavier_bound, default_bound = math.sqrt(6.0 / (fan_in + fan_out)), 1 / math.sqrt(fan_in)
    assert abs(xavier_bound - default_bound) > 0.2 * default_bound  # the check tells them apart
    assert weight.abs().max().item() <= xavier_bound
    if weight.numel() >= 1000:  # enough weights for their statistics to be sharp
        assert weight.abs().max().item() > 0.95 * xavier_bound
        assert weight.std().item() == pytest.approx(xavier_bound / math.sqrt(3), rel=0.1)
    assert torch.count_nonzero(layer.bias) == 0


def test_the_books_lazy_models_construct_and_are_xavier_initialized_at_their_first_forward():
    """The book's later lessons end __init__ with ``self.net.apply(d2l.init_cnn)`` on lazy
    layers: that constructs, and the first forward pass (``apply_init``, ``layer_summary``)
    leaves every convolution and dense layer Xavier-initialized, once."""
    d2l.set_seed(0)
    vgg = BookVGG(arch=((1, 16), (1, 32)))
    X = torch.rand(2, 1, 32, 32)
    vgg.apply_init([X])  # the first forward pass makes the weights and initializes them
    layers = weighted_layers(vgg)
    assert len(layers) == 5
    for layer in layers:
        assert_xavier_initialized(layer)
        assert not layer._forward_pre_hooks  # the hooks are gone
    before = [layer.weight.clone() for layer in layers]
    vgg(X)
    assert all(torch.equal(layer.weight, weight) for layer, weight in zip(layers, before))
    vgg.apply_init([X], d2l.init_cnn)  # as the lessons call it, after their __init__
    for layer in layers:
        assert_xavier_initialized(layer)

    alexnet = BookAlexNetCell()
    alexnet.layer_summary((1, 1, 67, 67))
    assert len(weighted_layers(alexnet)) == 8
    for layer in weighted_layers(alexnet):
        assert_xavier_initialized(layer)


def test_init_cnn_keeps_weights_loaded_into_a_lazy_model_before_its_first_forward():
    trained = BookVGG(arch=((1, 8),))
    X = torch.rand(2, 1, 16, 16)
    trained.apply_init([X])
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(1.0)  # nothing init_cnn would give
    fresh = BookVGG(arch=((1, 8),))
    fresh.load_state_dict(trained.state_dict())
    fresh(X)
    for (name, loaded), kept in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(loaded, kept), name


def test_init_cnn_takes_layers_without_a_bias():
    """torchvision-style ResNet convolutions before BatchNorm have ``bias=False``: their weights
    are initialized, and so is every layer after them (the book's leaves biases as they are)."""
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                        nn.LazyConv2d(64, 3, bias=False), nn.Flatten(), nn.Linear(64, 10))
    net.apply(d2l.init_cnn)
    net(torch.rand(1, 3, 5, 5))
    for layer in (net[0], net[3]):
        assert layer.bias is None
        bound = math.sqrt(6.0 / (9 * (layer.in_channels + layer.out_channels)))
        assert layer.weight.abs().max().item() <= bound
        assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert torch.count_nonzero(net[-1].bias) == 0
    assert net[-1].weight.abs().max().item() <= math.sqrt(6.0 / 74)


def test_features_of_a_network_that_is_not_a_sequential_is_refused_in_one_line():
    """A torchvision-style module (its layers as attributes, its own forward) wrapped in a
    Classifier predicts; its features, the input of a last layer only an nn.Sequential names,
    are refused naming what works, where ``self.net[:-1]`` was 'not subscriptable'."""
    nn = torch.nn

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.fc = nn.Linear(8, 10)

        def forward(self, X):
            return self.fc(torch.relu(self.bn(self.conv(X))).mean(dim=(2, 3)))

    class Wrapped(d2l.Classifier):
        def __init__(self):
            super().__init__()
            self.net = TinyResNet()

    model = Wrapped()
    X = torch.rand(3, 1, 16, 16)
    assert model.predict(X).shape == (3,)
    with pytest.raises(TypeError) as error:
        model.features(X)
    message = str(error.value)
    assert message.startswith("Wrapped.features needs self.net to be an nn.Sequential (the "
                              "features are what its last layer takes), and it is a "
                              "TinyResNet: use predict or probabilities")
    assert "a sequential network of its body and head" in message and "\n" not in message


def test_a_lesson_models_forward_is_what_predict_and_evaluate_run():
    """A from-scratch model (the book's MLPScratch style: its own forward and parameters, no
    self.net) predicts and evaluates through its forward, as fit trains it and as the JAX and
    TensorFlow backends do (predict ran self.net: an AttributeError); features and
    layer_summary, which need self.net, are refused in one line."""
    class Scratch(d2l.Classifier):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.W = torch.nn.Parameter(torch.randn(28 * 28, 10) * 0.01)
            self.b = torch.nn.Parameter(torch.zeros(10))

        def forward(self, X):
            return X.reshape(-1, 28 * 28) @ self.W + self.b

    model = Scratch()
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=32, limit_val=16,
                            log=None)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    X = torch.rand(4, 1, 28, 28)
    np.testing.assert_array_equal(model.predict(X), model(X).argmax(dim=1).numpy())
    evaluated = d2l.Trainer(max_epochs=1, progress=False, log=None).evaluate(model, data)
    with torch.no_grad():  # the model's forward over the validation split, by hand
        batches = [(model(X), y) for X, y in data.val_dataloader()]
    total = sum(len(y) for _, y in batches)
    assert evaluated["val_acc"] == pytest.approx(
        sum((Y_hat.argmax(dim=1) == y).sum().item() for Y_hat, y in batches) / total)
    assert evaluated["val_loss"] == pytest.approx(sum(
        torch.nn.functional.cross_entropy(Y_hat, y, reduction="sum").item()
        for Y_hat, y in batches) / total, rel=1e-5)
    with pytest.raises(TypeError, match="Scratch.features needs self.net to be an "
                                        "nn.Sequential .* and it has none: use predict"):
        model.features(X)
    with pytest.raises(TypeError, match="Scratch.layer_summary walks the layers of self.net, an "
                                        "nn.Sequential, and it has none"):
        model.layer_summary((1, 1, 28, 28))


def test_no_layer_is_lazy():
    model = d2l.AlexNet()
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter)
                   for p in model.parameters())


def test_a_run_starts_from_the_weights_that_set_seed_and_alexnet_give(tmp_path):
    """``set_seed(seed); AlexNet()`` rebuilds the weights a training run started from: the
    first-layer filters figure's start (results/first-layer-filters/) rests on it."""
    from d2l_alexnet import train

    args = train.build_parser().parse_args(["--backend", "pytorch", "--seed", "3", "--resize",
                                            "67", "--limit-train", "16", "--limit-val", "8",
                                            "--out", str(tmp_path / "run")])
    train.validate(args)
    torch.manual_seed(12345)  # whatever state came before, the run seeds its own
    _, run_model = train.build_data_and_model(d2l, args)
    d2l.set_seed(3)
    rebuilt = d2l.AlexNet(resize=67)
    for (name, started), same in zip(run_model.state_dict().items(),
                                     rebuilt.state_dict().values()):
        assert torch.equal(started, same), name
    d2l.set_seed(4)
    assert not torch.equal(d2l.AlexNet(resize=67).net[0].weight, rebuilt.net[0].weight)


def test_a_skipped_init_is_visible_in_the_statistics():
    """What the book's lazy-layer bug leaves behind (PyTorch's default init) differs from
    Xavier-uniform by far more than the contract suite's 5% tolerance, and has random biases."""
    model = d2l.AlexNet(resize=67)
    first = model.net[0]
    xavier_std = first.weight.std().item()
    first.reset_parameters()  # PyTorch's default, as when init_cnn is skipped
    bound = math.sqrt(6.0 / (121 + 96 * 121))
    assert xavier_std == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert abs(first.weight.std().item() - xavier_std) > 0.5 * xavier_std
    assert torch.count_nonzero(first.bias) > 0


def test_bf16_step_computes_in_bfloat16_with_fp32_weights():
    """One training step from the same weights and dropout mask in each precision: under bf16
    the convolutions and dense layers really run in bfloat16 (seen by hooks on the layers), so
    the loss differs from fp32's while staying close, and the weights stay float32."""
    data = d2l.FashionMNIST(batch_size=8, resize=(67, 67), limit_train=8, limit_val=8, log=None)
    losses, dtypes = {}, {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = d2l.AlexNet(lr=0.01, resize=67)
        trainer = d2l.Trainer(max_epochs=1, precision=precision, progress=False,
                              log=None).setup(model, data)
        batch = trainer.prepare_batch(data.train_images, data.train_labels)
        seen = dtypes[precision] = []
        hooks = [layer.register_forward_hook(lambda layer, inputs, output: seen.append(
            output.dtype)) for layer in (model.net[0], model.net[-1])]
        torch.manual_seed(1)  # the same dropout mask in both
        losses[precision] = trainer.train_step(batch).item()
        for hook in hooks:
            hook.remove()
        assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}
    assert dtypes == {"fp32": [torch.float32] * 2, "bf16": [torch.bfloat16] * 2}
    assert math.isfinite(losses["bf16"])
    assert losses["bf16"] != losses["fp32"], "bf16 gave the fp32 result: nothing was cast"
    assert losses["bf16"] == pytest.approx(losses["fp32"], abs=0.05)


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    data = d2l.FashionMNIST(batch_size=8, resize=(67, 67), limit_train=8, limit_val=8)
    model = d2l.AlexNet(lr=1.0, resize=67)
    before = [p.detach().clone() for p in model.parameters()]
    d2l.Trainer(max_epochs=1, gradient_clip_val=0.01, progress=False, log=None).fit(model, data)
    change = math.sqrt(sum(((p.detach() - b) ** 2).sum().item()
                           for p, b in zip(model.parameters(), before)))
    assert 0 < change <= 0.01 * 1.0 + 1e-6  # lr × clip bound


def test_a_real_allocation_failure_is_called_out_of_memory():
    """4 EiB is beyond any machine's address space, so the allocator refuses at once and
    nothing is touched; the message is the one the CLI turns into its one line."""
    with pytest.raises(RuntimeError) as failure:
        torch.empty(2**62, dtype=torch.uint8)
    assert out_of_memory_message(failure.value, 128) == (
        "out of memory at batch size 128: use a smaller --batch-size (try 64)"), failure.value
    assert torch.ones(4).sum().item() == 4  # and the process carries on


# ---- compile=True (torch.compile) ------------------------------------------------------------
# A small table, few kernels to compile: on the 2-core CPU with a cold cache the chapter's
# network takes about a minute.
TINY = (Layer("conv", 4, kernel=5, stride=3), Layer("relu"), Layer("flatten"),
        Layer("dropout", rate=0.5), Layer("dense"))


def tiny_data():
    """20 training images (batches of 8, 8 and 4) and 12 validation images (8 and 4)."""
    return d2l.FashionMNIST(batch_size=8, resize=(28, 28), limit_train=20, limit_val=12,
                            log=None)


def fit_tiny(compile, data=None):
    """Two epochs of ``data`` (:func:`tiny_data` by default) with dropout off; the trainer and
    its history."""
    data = tiny_data() if data is None else data
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.1, resize=28, layers=TINY, dropout=0.0)
    trainer = d2l.Trainer(max_epochs=2, progress=False, log=None, compile=compile)
    return trainer, trainer.fit(model, data)


def test_a_model_trained_on_a_schedule_pickles_with_its_trainer():
    """torch.save(model) and pickle failed after a fit on a schedule: the model holds its
    trainer, whose LambdaLR held a lambda local to configure_optimizers."""
    import io
    import pickle

    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.1, resize=28, layers=TINY, dropout=0.0, schedule="cosine",
                        momentum=0.9)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, tiny_data())
    X = torch.rand(4, 1, 28, 28)
    twin = pickle.loads(pickle.dumps(model))
    torch.testing.assert_close(twin(X), model(X))
    torch.save(model, io.BytesIO())


def assert_same_history(got, expected):
    """Losses and accuracies of two runs' histories, close but not bitwise."""
    for key in ("train_loss", "val_loss", "val_acc"):
        np.testing.assert_allclose([record[key] for record in got],
                                   [record[key] for record in expected], rtol=1e-4)


def test_compiled_steps_match_the_eager_ones_and_compile_once_per_split():
    """Six training steps and four evaluations: the compiled ones compile two graphs (training
    and evaluation, for the full batch; the epoch's short last batch runs eagerly) and no more,
    and end with weights, losses and accuracies close to the eager steps' (not bitwise:
    inductor fuses and reorders the sums); the state a checkpoint saves names the model's own
    parameters."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # no graph of an earlier test to reuse: every one counts
    eager, eager_history = fit_tiny(compile=False)
    graphs = counters["stats"]["unique_graphs"]
    compiled, compiled_history = fit_tiny(compile=True)
    assert compiled.compile_mode == "default"  # the CPU's
    assert counters["stats"]["unique_graphs"] - graphs == 2
    expected, got = eager.state_arrays(), compiled.state_arrays()
    assert sorted(got) == sorted(expected)
    for name in expected:
        if name.startswith(("params.", "optimizer.")):
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    assert_same_history(compiled_history, eager_history)


def test_a_loader_with_no_batch_size_compiles_for_its_first_batch():
    """A book-style module with no ``batch_size``: the compiled steps take the size of each
    pass's first batch (8), the short last batch (4) runs eagerly, so two graphs again, and the
    run ends as the eager one does."""
    from torch._dynamo.utils import counters

    source = tiny_data()
    train, val = list(source.train_dataloader()), list(source.val_dataloader())

    class Lesson:  # the two loaders and nothing else
        def train_dataloader(self):
            return train

        def val_dataloader(self):
            return val

    torch._dynamo.reset()
    _, eager_history = fit_tiny(compile=False, data=Lesson())
    graphs = counters["stats"]["unique_graphs"]
    _, compiled_history = fit_tiny(compile=True, data=Lesson())
    assert counters["stats"]["unique_graphs"] - graphs == 2
    assert_same_history(compiled_history, eager_history)


def test_compile_takes_a_mode_and_one_device(monkeypatch):
    """A mode is one of torch.compile's; DistributedDataParallel replicas are refused."""
    with pytest.raises(ValueError, match="compile must be True, False or one of default, "):
        d2l.Trainer(max_epochs=1, log=None, compile="fastest")
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it for two processes
    with pytest.raises(ReplicaError, match=r"compile \(--compile\) trains on one device"):
        d2l.Trainer(max_epochs=1, num_gpus=2, log=None, compile=True)


def test_compile_on_a_cpu_without_a_cpp_compiler_is_refused_before_the_run(tmp_path):
    """Without a C++ compiler (a slim image), --compile once failed at the first step with
    inductor's InvalidCxxCompiler, after the introduction and the run's folder; now one line
    naming both fixes, exit 2, no folder. In Python, the device's choice refuses."""
    import subprocess
    import sys

    from repository import child_env
    command = [sys.executable, "-m", "d2l_alexnet.train", "--limit-train", "8", "--limit-val",
               "8", "--resize", "67", "--epochs", "1", "--batch-size", "8", "--compile",
               "--out", str(tmp_path / "run")]
    for missing in ({"CXX": "/nonexistent/g++"}, {"PATH": os.path.dirname(sys.executable)}):
        result = subprocess.run(command, env=child_env(**missing), cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: torch.compile (--compile, compile=True) builds "
                                        "its CPU kernels with a C++ compiler"), result.stderr
        assert len(result.stderr.splitlines()) == 1 and "install one" in result.stderr
        assert "drop --compile (compile=False)" in result.stderr
        assert result.stdout == "" and not (tmp_path / "run").exists()
    from torch._inductor import config
    with config.patch({"cpp.cxx": (None, str(tmp_path / "no-such-g++"))}), \
            pytest.raises(CompilerMissing, match=r"tried .*no-such-g\+\+\): install one"):
        d2l.Trainer(max_epochs=1, log=None, compile=True).select_device("cpu")
    d2l.Trainer(max_epochs=1, log=None).select_device("cpu")  # eager needs no compiler


# A notebook's kernel that switches BACKEND and re-runs: each import in its own line.
EDITIONS_IN_ONE_PROCESS = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from d2l_alexnet import torch
    from d2l_alexnet.backends import FrameworkClashWarning, load_backend
    alone = len(caught)
    load_backend("tensorflow")
    from d2l_alexnet import jax
clashes = [w for w in caught if issubclass(w.category, FrameworkClashWarning)]
print(alone, len(clashes), issubclass(FrameworkClashWarning, UserWarning))
for w in clashes:
    print(w.filename, w.lineno, w.message)
"""


def test_a_second_editions_import_warns_once_of_the_clash_naming_the_callers_line(tmp_path):
    """The PyTorch edition, then the TensorFlow one (as a notebook's load_backend(BACKEND)
    re-run), then JAX's: one FrameworkClashWarning, at the line that asked for the second, saying
    what may clash and to restart the kernel. Before, nothing was said."""
    import subprocess
    import sys

    from repository import child_env
    for framework in ("tensorflow", "flax"):
        if importlib.util.find_spec(framework) is None:
            pytest.skip(f"{framework} is not installed")
    script = tmp_path / "lesson.py"
    script.write_text(EDITIONS_IN_ONE_PROCESS)
    result = subprocess.run([sys.executable, str(script)], env=child_env(), cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    counts, where_and_what = result.stdout.splitlines()
    assert counts == "0 1 True"
    filename, line, message = where_and_what.split(" ", 2)
    asking = EDITIONS_IN_ONE_PROCESS.splitlines().index('    load_backend("tensorflow")') + 1
    assert (filename, line) == (str(script), str(asking))
    assert message.startswith("d2l_alexnet.tensorflow imported into a process that has "
                              "imported d2l_alexnet.torch: PyTorch and TensorFlow in one process "
                              "can clash over their OpenMP and oneDNN runtimes")
    assert "restart the kernel" in message


def test_device_gpu_without_one_is_refused():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    trainer = d2l.Trainer(max_epochs=1, device="gpu", log=None)
    with pytest.raises(DeviceError, match="--device cpu"):
        trainer.select_device("gpu")


@pytest.mark.parametrize("cuda, mps, precision, request_, expected", [
    (True, True, "fp32", "auto", "cuda:0"),   # CUDA first
    (False, True, "fp32", "auto", "mps"),     # then Apple's MPS, in fp32
    (False, True, "bf16", "auto", "cpu"),     # bf16 is not run on MPS: the CPU
    (False, True, "fp32", "gpu", "mps"),
    (False, False, "fp32", "auto", "cpu"),
    (True, True, "fp32", "cpu", "cpu"),       # asked for: the CPU
])
def test_device_choice_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, precision, request_,
                                              expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch_trainer, "mps_available", lambda: mps)
    trainer = d2l.Trainer(max_epochs=1, device=request_, precision=precision, log=None)
    assert str(trainer.select_device(request_)) == expected


def test_device_gpu_with_only_mps_and_bf16_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch_trainer, "mps_available", lambda: True)
    trainer = d2l.Trainer(max_epochs=1, device="gpu", precision="bf16", log=None)
    with pytest.raises(DeviceError, match="MPS GPU, which trains here in fp32 on one device"):
        trainer.select_device("gpu")


def test_loader_tensors_that_need_a_detach_are_taken():
    trainer = d2l.Trainer(max_epochs=1, log=None)
    tensor = torch.ones(2, 3, requires_grad=True) * 2
    np.testing.assert_array_equal(trainer.host_array(tensor), np.full((2, 3), 2.0))


def test_resize_is_half_pixel_bilinear():
    images = np.array([[[0, 255]]], dtype=np.uint8)  # one row, two pixels
    out = d2l.resize_images(images, (1, 4)).numpy().reshape(-1)
    # Output centres at 0.125, 0.375, 0.625, 0.875 of the row: clamped, 1/4, 3/4, clamped.
    np.testing.assert_allclose(out, [0.0, 0.25, 0.75, 1.0], atol=1e-6)


def load_benchmark(name):
    """A script of ``benchmarks/`` as a module."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_profile_attributes_time_to_every_weighted_layer(tmp_path):
    """benchmarks/profile_torch.py: each of the eight layers gets forward and backward time
    (conv1's weight gradient by its kernel's shape, where no backward hook fires)."""
    script = load_benchmark("profile_torch")
    path = tmp_path / "profile.json"
    # fp32: without AMX or AVX-512 (this AVX2 EPYC), bf16 matmuls are emulated and the peak
    # measurement alone took 12 minutes.
    result = script.main(["--precision", "fp32", "--batch-size", "2", "--resize", "67",
                          "--steps", "1", "--warmup", "0", "--json", str(path)])
    names = [row["layer"] for row in result["layers"]]
    assert names == ["conv1", "conv2", "conv3", "conv4", "conv5", "dense1", "dense2", "dense3"]
    for row in result["layers"]:
        assert row["forward_ms"] > 0 and row["backward_ms"] > 0, row
    # Which kernel computes the convolutions' gradients is PyTorch's choice for the CPU (oneDNN's
    # convolution_backward with AVX-512; its own _slow_conv2d_backward on an AVX2-only EPYC at
    # this tiny batch): the profile must attribute time to one of them.
    backward = {"aten::convolution_backward", "aten::_slow_conv2d_backward",
                "aten::mkldnn_convolution_backward"}
    assert backward & set(result["operators_self_ms"]), sorted(result["operators_self_ms"])
    assert json.loads(path.read_text())["layers"] == result["layers"]


@pytest.mark.parametrize("compile_mode", ["none", "default"])
def test_the_plain_loop_trains_the_chapters_network(tmp_path, compile_mode):
    """benchmarks/plain_torch_loop.py, the GPU figures' reference: the chapter's AlexNet as our
    model has it (the same parameters), trained eagerly and compiled, its speed saved."""
    script = load_benchmark("plain_torch_loop")
    path = tmp_path / "plain.json"
    result = script.main(["--examples", "32", "--batch-size", "8", "--size", "67",
                          "--steps", "2", "--warmup", "1", "--precision", "fp32",
                          "--device", "cpu", "--compile", compile_mode, "--json", str(path)])
    ours = d2l.AlexNet(resize=67)
    assert result["parameters"] == sum(parameter.numel() for parameter in ours.parameters())
    chapter = script.chapter_alexnet(224)
    assert chapter[1].in_features == 6400  # the chapter's flattened 256 × 5 × 5
    ours_convolutions = [module for module in ours.modules()
                         if isinstance(module, torch.nn.Conv2d)]
    plain_convolutions = [module for module in chapter.modules()
                          if isinstance(module, torch.nn.Conv2d)]
    assert [(conv.kernel_size, conv.stride, conv.padding) for conv in plain_convolutions] == [
        (conv.kernel_size, conv.stride, conv.padding) for conv in ours_convolutions]
    assert result["images_per_sec"] > 0 and math.isfinite(result["last_loss"])
    assert result["compile"] == compile_mode
    assert json.loads(path.read_text()) == result


def test_a_run_on_an_unshuffled_dataloader_resumes_mid_epoch_exactly(tmp_path):
    """Each pass over a DataLoader draws a seed from the global RNG, shuffled or not; a
    checkpoint saved mid-pass holds the RNG after that draw, so the resumed pass must not draw
    again, or dropout would follow another stream from there on."""
    from d2l_alexnet.core.checkpoint import Checkpointer, latest_checkpoint
    from d2l_alexnet.core.trainer import TrainingInterrupted

    generator = np.random.default_rng(0)
    X = torch.from_numpy(generator.random((48, 3, 67, 67), dtype=np.float32))
    y = torch.from_numpy(generator.integers(0, 4, 48))

    class Lesson(d2l.DataModule):
        def get_dataloader(self, train):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
                X[:32] if train else X[32:], y[:32] if train else y[32:]), batch_size=8)

    def run(stop_at=None, resume=None):
        d2l.set_seed(0)
        model = d2l.AlexNet(lr=0.1, momentum=0.9, num_classes=4, resize=67, in_channels=3)
        trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)
        if stop_at is not None:
            checkpointer = Checkpointer(tmp_path, log=None).attach(trainer)
            trainer.step_callbacks.append(lambda trainer: setattr(
                trainer, "stop_requested", "test") if trainer.step == stop_at else None)
            with pytest.raises(TrainingInterrupted):
                trainer.fit(model, Lesson())
            checkpointer.save(trainer)
            return None
        return [(record["train_loss"], record["val_loss"]) for record in
                trainer.fit(model, Lesson(), resume=resume)]

    straight = run()
    run(stop_at=6)  # mid-way through the second epoch's pass
    assert run(resume=latest_checkpoint(tmp_path)) == straight


class BookBNLeNet(d2l.Classifier):
    """The book's LeNet with PyTorch's BatchNorm (sec_batch_norm, "Concise Implementation")."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        nn = torch.nn
        self.net = nn.Sequential(
            nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.LazyConv2d(16, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
            nn.LazyLinear(120), nn.LazyBatchNorm1d(), nn.Sigmoid(),
            nn.LazyLinear(84), nn.LazyBatchNorm1d(), nn.Sigmoid(),
            nn.LazyLinear(num_classes))


def test_a_lessons_model_names_no_rows_in_its_checkpoints():
    """A lesson's model is built from no table of rows: its checkpoints had named the chapter's
    AlexNet rows for it (``Module.table``'s default), which a resume then compared."""
    data = d2l.FashionMNIST(batch_size=8, resize=(28, 28), limit_train=16, limit_val=8, log=None)
    model = BookBNLeNet()
    model(torch.zeros(2, 1, 28, 28))  # its lazy layers made
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(model, data)
    assert trainer.run_identity()["network"] is None


def book_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    """The book's from-scratch ``batch_norm`` (sec_batch_norm, PyTorch edition), as printed."""
    if not torch.is_grad_enabled():  # prediction mode: the moving statistics
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BookBatchNorm(torch.nn.Module):
    """The book's from-scratch ``BatchNorm``: its moving statistics are plain attributes."""

    def __init__(self, num_features, num_dims):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = torch.nn.Parameter(torch.ones(shape))
        self.beta = torch.nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        if self.moving_mean.device != X.device:
            self.moving_mean = self.moving_mean.to(X.device)
            self.moving_var = self.moving_var.to(X.device)
        Y, self.moving_mean, self.moving_var = book_batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
        return Y


class BookBNLeNetScratch(d2l.Classifier):
    """The book's ``BNLeNetScratch`` (sec_batch_norm)."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        nn = torch.nn
        self.net = nn.Sequential(
            nn.LazyConv2d(6, kernel_size=5), BookBatchNorm(6, num_dims=4), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.LazyConv2d(16, kernel_size=5), BookBatchNorm(16, num_dims=4), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
            nn.LazyLinear(120), BookBatchNorm(120, num_dims=2), nn.Sigmoid(),
            nn.LazyLinear(84), BookBatchNorm(84, num_dims=2), nn.Sigmoid(),
            nn.LazyLinear(num_classes))


def moving_statistics(model):
    """Every BatchNorm's running (or moving) mean and variance, by name, as numpy arrays."""
    return {f"{path}.{name}": d2l.to_numpy(getattr(module, name))
            for path, module in model.named_modules()
            for name in ("running_mean", "running_var", "moving_mean", "moving_var")
            if torch.is_tensor(getattr(module, name, None))}


class MixedBNLeNet(BookBNLeNetScratch):
    """A small LeNet with both BatchNorms: the book's from-scratch one, then PyTorch's."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__(lr, num_classes)
        nn = torch.nn
        self.net = nn.Sequential(
            nn.LazyConv2d(6, kernel_size=5), BookBatchNorm(6, num_dims=4), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.LazyConv2d(16, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(), nn.LazyLinear(num_classes))


def fit_batch_norm_lesson(make_model, directory=None, resume=None, **settings):
    """One epoch of two steps, as the book trains a BatchNorm lesson (``apply_init`` on a batch
    first); with ``directory``, a checkpoint after every step; ``settings``: the Trainer's.
    The trainer, the model and its history."""
    from d2l_alexnet.core.checkpoint import Checkpointer

    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=32, limit_val=16,
                            log=None)
    d2l.set_seed(0)
    model = make_model()
    model.apply_init([next(iter(data.get_dataloader(True)))[0]], d2l.init_cnn)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, **settings)
    if directory is not None:
        Checkpointer(directory, every=1, log=None).attach(trainer)
    history = trainer.fit(model, data, resume=resume)
    return trainer, model, [(record["train_loss"], record["val_loss"], record["val_acc"])
                            for record in history]


@pytest.mark.parametrize("make_model", [BookBNLeNet, BookBNLeNetScratch])
def test_a_batch_norm_lesson_resumes_exactly_moving_statistics_and_all(tmp_path, make_model):
    """A checkpoint held the parameters only: a resumed BatchNorm lesson evaluated with the
    running statistics it started from, not the ones it had reached (val_loss 2.3935 against
    the straight run's 2.3926 here), and ended with others. Now they are kept (a Module's
    buffers, and the tensors the book's from-scratch BatchNorm keeps as attributes) and
    restored in place."""
    from d2l_alexnet.core.checkpoint import read_checkpoint

    _, straight_model, straight = fit_batch_norm_lesson(make_model, tmp_path)
    saved = read_checkpoint(tmp_path / "checkpoint-1.ckpt")  # mid-epoch
    assert {"buffers.net.1.running_mean", "state.net.1.moving_mean"} & set(saved.arrays)
    _, model, resumed = fit_batch_norm_lesson(make_model, resume=saved)
    assert resumed == straight
    expected = moving_statistics(straight_model)
    assert len(expected) == 8 and moving_statistics(model).keys() == expected.keys()
    for name, array in moving_statistics(model).items():
        assert np.array_equal(array, expected[name]), name
    for (name, ours), (_, theirs) in zip(d2l.parameter_arrays(model),
                                         d2l.parameter_arrays(straight_model), strict=True):
        assert np.array_equal(ours, theirs), name


def two_process_batch_norm_run(tmp_path, name, *arguments):
    """This file's ``__main__`` under torchrun, 2 Gloo processes: each rank's history and
    moving statistics."""
    import subprocess
    import sys

    from repository import child_env

    out = tmp_path / name
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", __file__, str(out), *map(str, arguments)]
    # TMPDIR: torchrun leaves a torchelastic_* folder there.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env=child_env(OMP_NUM_THREADS="1", TMPDIR=str(tmp_path)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [json.loads(out.with_suffix(f".{rank}.json").read_text()) for rank in (0, 1)]


def test_batch_norm_statistics_are_one_value_in_every_process_and_resume_exactly(tmp_path):
    """On 2 torchrun processes each normalized its own half of the batch and updated its own
    moving statistics: the book's from-scratch BatchNorm's attributes drifted apart (0.024 in
    the first layer's moving mean after 8 steps), and PyTorch's BatchNorm's buffers too
    between a step and the next forward pass (DDP then broadcasts rank 0's), so each process
    evaluated its share of the validation batch with other statistics, and a resumed run,
    given rank 0's everywhere, evaluated differently. They are now averaged after every step,
    each process weighted by its share: one value everywhere, the whole batch's mean (as on
    one device, after one step from the same weights), and an exact resume."""
    from d2l_alexnet.core.checkpoint import read_checkpoint

    one_device = tmp_path / "one"
    fit_batch_norm_lesson(MixedBNLeNet, one_device)
    first = read_checkpoint(one_device / "checkpoint-1.ckpt").arrays["state.net.1.moving_mean"]
    straight = two_process_batch_norm_run(tmp_path, "straight", tmp_path / "two")
    saved = read_checkpoint(tmp_path / "two" / "checkpoint-1.ckpt")
    np.testing.assert_allclose(saved.arrays["state.net.1.moving_mean"], first, rtol=1e-5,
                               atol=1e-7)
    assert straight[0] == straight[1]  # the same history and statistics in both processes
    assert len(straight[0]["statistics"]) == 4
    resumed = two_process_batch_norm_run(tmp_path, "resumed", "-", saved.path)
    assert resumed == straight


# 2 torchrun processes of the CLI, batch 5 (slices of 3 and 2 images), dropout on (the
# chapter's 0.5): 4 steps per epoch.
TWO_PROCESS_FLAGS = ["--backend", "pytorch", "--resize", "67", "--limit-train", "20",
                     "--limit-val", "10", "--batch-size", "5", "--epochs", "2"]


def two_process_cli(tmp_path, *flags):
    """``python -m d2l_alexnet.train`` under torchrun, 2 Gloo processes; its result."""
    import subprocess
    import sys

    from repository import child_env

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", "-m", "d2l_alexnet.train", *TWO_PROCESS_FLAGS, *flags]
    # TMPDIR: torchrun leaves a torchelastic_* folder there.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env=child_env(OMP_NUM_THREADS="1", TMPDIR=str(tmp_path)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def straight_two_process_run(tmp_path_factory):
    """The 2-process run left alone, with a checkpoint every 3 steps: its folder."""
    folder = tmp_path_factory.mktemp("straight")
    two_process_cli(folder, "--out", str(folder / "out"), "--checkpoint-dir",
                    str(folder / "ckpt"), "--checkpoint-every", "3")
    return folder


def assert_same_run(out, expected_out):
    """The same epochs (the clock's aside) and bit for bit the same weights."""
    from safetensors.numpy import load_file

    measured = ("epoch", "step", "train_loss", "val_loss", "val_acc", "lr")
    runs = [[[record[key] for key in measured] for record in json.loads(
        (folder / "metrics.json").read_text())] for folder in (out, expected_out)]
    assert runs[0] == runs[1]
    weights, expected = (load_file(folder / "weights.safetensors")
                         for folder in (out, expected_out))
    assert weights.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(weights[key], value), key


def test_two_processes_with_uneven_slices_and_dropout_resume_bit_for_bit(
        tmp_path, straight_two_process_run):
    """Each process drew its dropout masks from the stream they all share, so at batch 5 the
    process with 3 images drew more than the one with 2 and their streams drifted apart; a
    checkpoint held the first process's, which a resumed run gave to both: the second then
    dropped other units, and the resumed run ended elsewhere. Now each step draws from a
    stream of each process's own, seeded from the shared one, which stays the same in every
    process at each step boundary."""
    import shutil

    straight = straight_two_process_run
    (tmp_path / "ckpt").mkdir()
    shutil.copy(straight / "ckpt" / "checkpoint-6.ckpt", tmp_path / "ckpt")  # mid-epoch 2
    result = two_process_cli(tmp_path, "--out", str(tmp_path / "out"), "--checkpoint-dir",
                             str(tmp_path / "ckpt"), "--resume")
    assert "resuming from" in result.stdout and "checkpoint-6.ckpt" in result.stdout
    assert_same_run(tmp_path / "out", straight / "out")


def test_each_process_draws_its_own_dropout_masks():
    """Every process seeded the same stream, so image i of every slice got the same mask; now
    each draws from its own, and the stream they share ends the step alike in each."""
    torch.manual_seed(0)
    torch.randint(2**48, (1,))  # a step's one draw from the shared stream: its seed
    shared_after_a_step = torch.get_rng_state()
    masks = []
    for rank in (0, 1):
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
        trainer.device, trainer.num_replicas, trainer.replica_rank = torch.device("cpu"), 2, rank
        d2l.set_seed(0)
        with trainer.own_random_stream():
            masks.append(torch.nn.functional.dropout(torch.ones(64), 0.5))
        assert torch.equal(torch.get_rng_state(), shared_after_a_step)
    assert not torch.equal(masks[0], masks[1])


def torchrun_environments(port):
    """What torchrun sets in each of its 2 processes on one machine (``--standalone``)."""
    shared = {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "GROUP_WORLD_SIZE": "1",
              "GROUP_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
              "TORCHELASTIC_RUN_ID": "test", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return [dict(shared, RANK=str(rank), LOCAL_RANK=str(rank)) for rank in (0, 1)]


def test_a_signal_to_one_process_stops_all_at_one_boundary_and_the_first_saves(
        tmp_path, straight_two_process_run):
    """SIGTERM to the second of 2 torchrun processes mid-epoch 2: it stopped at once (it had
    no checkpointer, so it took the signal as one to stop without saving), and the first died
    in its next all-reduce ("Connection closed by peer"), saving nothing. Now both stop at the
    same step boundary, the first saves a checkpoint there, each exits 143 with one line, the
    first's naming the checkpoint and the command that resumes under torchrun, and that
    command ends the run as if it had not stopped."""
    import shlex
    import signal
    import socket
    import subprocess
    import sys

    from repository import child_env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "d2l_alexnet.train", *TWO_PROCESS_FLAGS, "--out",
               str(tmp_path / "out"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=child_env(TMPDIR=str(tmp_path), **environment))
                 for environment in torchrun_environments(port)]
    first, second = processes
    try:
        for line in first.stdout:
            if line.startswith("epoch 1/2"):  # the first process is saving epoch 1's
                second.send_signal(signal.SIGTERM)
                break
        results = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            process.kill()
    statuses = [process.returncode for process in processes]
    lasts = [stderr.strip().splitlines()[-1] for _, stderr in results]
    assert statuses == [143, 143], [stderr[-2000:] for _, stderr in results]
    saved = sorted(os.listdir(tmp_path / "ckpt"))
    assert len(saved) == 2 and "checkpoint-4.ckpt" in saved, saved  # epoch 1's, the stop's
    stopped_at = int(saved[-1].removeprefix("checkpoint-").removesuffix(".ckpt"))
    assert 4 < stopped_at < 8  # mid-epoch 2
    assert lasts[1] == (f"interrupted by SIGTERM: process 1 of 2 stopped with the others at "
                        f"step {stopped_at}; the first process says what was saved")
    assert lasts[0].startswith(f"interrupted by SIGTERM: saved {tmp_path / 'ckpt' / saved[-1]} "
                               f"(epoch 2, batch {stopped_at - 4}, step {stopped_at}); resume "
                               "with: ")
    resume = shlex.split(lasts[0].split("resume with: ", 1)[1])
    assert resume[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node=2", "-m"] and resume[-1] == "--resume"
    result = subprocess.run(resume, capture_output=True, text=True, timeout=300,
                            env=child_env(OMP_NUM_THREADS="1", TMPDIR=str(tmp_path)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_same_run(tmp_path / "out", straight_two_process_run / "out")


@pytest.mark.parametrize("environment, expected", [
    ({}, "{python} -m d2l_alexnet.train --backend pytorch --resume"),
    ({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "x"},
     "{python} -m torch.distributed.run --standalone --nproc-per-node=2 -m d2l_alexnet.train "
     "--backend pytorch --resume"),
    ({"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", "TORCHELASTIC_RUN_ID": "x"},
     "{python} -m torch.distributed.run --nnodes=2 --nproc-per-node=4 <this run's --rdzv-* "
     "flags> -m d2l_alexnet.train --backend pytorch --resume, on each of the 2 machines"),
    ({"WORLD_SIZE": "2"}, "{python} -m d2l_alexnet.train --backend pytorch --resume, launched "
                          "as this run was (2 processes, each with its RANK and WORLD_SIZE)"),
])
def test_the_resume_command_launches_as_many_processes_as_the_run(monkeypatch, environment,
                                                                   expected):
    """Under torchrun the printed command was one process's, which resumed a 2-process run on
    one device, on another trajectory."""
    import argparse
    import sys

    from d2l_alexnet.train import resume_command

    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    args = argparse.Namespace(argv=["--backend", "pytorch"], backend="pytorch")
    assert resume_command(args) == expected.format(python=sys.executable)


# ---- a lesson's own learning-rate scheduler, as Lightning's configure_optimizers returns it ----
StepLR = torch.optim.lr_scheduler.StepLR


class ScheduledLesson(d2l.Classifier):
    """A lesson's tiny softmax regression (sec_softmax_concise) whose ``configure_optimizers``
    returns what ``schedule(optimizer)`` makes of its SGD: Lightning's forms."""

    def __init__(self, schedule, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, num_classes))

    def configure_optimizers(self):
        return self.schedule(torch.optim.SGD(self.parameters(), lr=self.lr))


def scheduled_data():
    """12 training images of 8×8 (3 steps of 4 per epoch) and 4 validation images."""
    generator = np.random.default_rng(0)
    images = generator.random((16, 8, 8), dtype=np.float32)
    labels = generator.integers(0, 10, 16)
    return d2l.ArrayData((images[:12], labels[:12]), (images[12:], labels[12:]), batch_size=4)


def fit_scheduled(schedule, directory=None, resume=None, every=None):
    """Three epochs of :func:`scheduled_data` (9 steps); with ``directory``, a checkpoint at
    every epoch end and every ``every`` steps, all kept. The model, its history and the rate
    the optimizer held after each step."""
    from d2l_alexnet.core.checkpoint import Checkpointer

    torch.manual_seed(0)
    model = ScheduledLesson(schedule)
    trainer = d2l.Trainer(max_epochs=3, progress=False, log=None)
    if directory is not None:
        Checkpointer(directory, every=every, keep=100, log=None).attach(trainer)
    rates = []
    trainer.step_callbacks.append(lambda trainer: rates.append(trainer.learning_rate()))
    history = trainer.fit(model, scheduled_data(), resume=resume)
    return model, history, rates


def test_a_bare_scheduler_steps_once_per_epoch_as_lightnings_default():
    """A Lightning user's ``{"lr_scheduler": StepLR(step_size=1)}`` halved the rate after every
    step (9 times in 3 epochs) instead of every epoch (3 times); each epoch's record held the
    model's ``lr`` rather than the scheduled rate."""
    model, history, rates = fit_scheduled(lambda optimizer: {
        "optimizer": optimizer, "lr_scheduler": StepLR(optimizer, step_size=1, gamma=0.5)})
    assert rates == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025]
    assert [record["lr"] for record in history] == [0.05, 0.025, 0.0125]  # the next epoch's


@pytest.mark.parametrize("lists", [False, True])
def test_lightnings_scheduler_config_steps_at_its_interval_and_frequency(lists):
    """Lightning's config ``{"scheduler": ..., "interval": ..., "frequency": ...}`` failed at
    the first step (``'dict' object has no attribute 'step'``). Also in Lightning's two lists,
    ``([optimizer], [config])``."""
    def every_second_step(optimizer):
        config = {"scheduler": StepLR(optimizer, step_size=1, gamma=0.5), "interval": "step",
                  "frequency": 2}
        return ([optimizer], [config]) if lists else {"optimizer": optimizer,
                                                       "lr_scheduler": config}

    _, _, rates = fit_scheduled(every_second_step)
    assert rates == [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625, 0.00625]
    _, history, rates = fit_scheduled(lambda optimizer: {"optimizer": optimizer, "lr_scheduler": {
        "scheduler": StepLR(optimizer, step_size=1, gamma=0.5), "frequency": 2}})
    assert rates[-1] == 0.05 and [record["lr"] for record in history] == [0.1, 0.05, 0.05]


def step_lr_each_epoch(optimizer):
    return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, step_size=1, gamma=0.5)}


def exponential_lr_each_step(optimizer):
    return {"optimizer": optimizer, "lr_scheduler": {
        "scheduler": torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9),
        "interval": "step"}}


@pytest.mark.parametrize("schedule", [step_lr_each_epoch, exponential_lr_each_step])
def test_a_lessons_scheduler_resumes_bit_for_bit_at_an_epoch_end_and_mid_epoch(tmp_path,
                                                                               schedule):
    """A resume rebuilt every scheduler as a ``LambdaLR`` (``'StepLR' object has no attribute
    'lr_lambdas'``). Now the scheduler is stepped again as the checkpoint's run stepped it:
    resumed after epoch 1 (step 3) or in epoch 2 (step 4), a run ends with the weights, rates
    and history of one that ran straight through, without PyTorch's warning of a scheduler
    stepped before its optimizer."""
    import warnings

    from d2l_alexnet.core.checkpoint import read_checkpoint

    straight_model, straight, straight_rates = fit_scheduled(schedule, tmp_path, every=2)
    for step in (3, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model, history, rates = fit_scheduled(
                schedule, resume=read_checkpoint(tmp_path / f"checkpoint-{step}.ckpt"))
        assert rates == straight_rates[step:]
        timed = ("seconds", "val_seconds", "images_per_sec")  # the clock's, not the run's
        for ours, theirs in zip(history, straight, strict=True):
            assert {key: value for key, value in ours.items() if key not in timed} == {
                key: value for key, value in theirs.items() if key not in timed}
        for (name, ours), (_, theirs) in zip(d2l.parameter_arrays(model),
                                             d2l.parameter_arrays(straight_model), strict=True):
            assert np.array_equal(ours, theirs), name


@pytest.mark.parametrize("configured, refusal", [
    (lambda optimizer: {"optimizer": optimizer, "lr_scheduler": {
        "scheduler": StepLR(optimizer, 1), "interval": "batch"}},
     "interval must be \"epoch\" .* or \"step\", got 'batch'"),
    (lambda optimizer: {"optimizer": optimizer, "lr_scheduler": {
        "scheduler": StepLR(optimizer, 1), "frequency": 0}},
     "frequency must be a whole number of epochs, 1 or more, got 0"),
    (lambda optimizer: {"optimizer": optimizer, "lr_scheduler": {
        "scheduler": StepLR(optimizer, 1), "intervall": "step"}},
     "Lightning's are 'scheduler', 'interval', 'frequency'"),
    (lambda optimizer: {"optimizer": optimizer, "monitor": "val_loss", "lr_scheduler":
                        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)},
     "ReduceLROnPlateau is not supported: it steps on a monitored metric.*StepLR"),
    (lambda optimizer: [optimizer, torch.optim.SGD(optimizer.param_groups[0]["params"], 0.1)],
     "returned 2 optimizers, and this Trainer steps one: return one optimizer"),
    (lambda optimizer: ([optimizer], [StepLR(optimizer, 1), StepLR(optimizer, 2)]),
     "returned 2 schedulers.*ChainedScheduler or SequentialLR"),
    (lambda optimizer: {"optimizer": optimizer, "lr_scheduler": StepLR(
        torch.optim.SGD(optimizer.param_groups[0]["params"], 0.1), 1)},
     "made for another optimizer"),
    (lambda optimizer: {"optimizer": optimizer, "lr_scheduler": lambda step: 0.1},
     "the lr_scheduler is a function: return a torch.optim.lr_scheduler scheduler"),
], ids=["interval", "frequency", "key", "plateau", "optimizers", "schedulers", "another",
        "function"])
def test_a_schedule_this_trainer_cannot_step_is_refused_in_one_line(configured, refusal):
    """Each had failed at the first step, with PyTorch's or Python's error (or trained with
    one optimizer of two); now ``fit`` refuses it before anything runs, saying what to do."""
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    with pytest.raises(torch_trainer.OptimizerConfigError, match=refusal) as refused:
        trainer.fit(ScheduledLesson(configured), scheduled_data())
    assert "\n" not in str(refused.value) and trainer.step == 0


def test_the_first_layers_own_parameter_is_drawn_as_it_is():
    """The chapter draws a trained model's filters: its parameter, in the autograd graph, was
    refused by numpy() with PyTorch's own error."""
    from d2l_alexnet.core.filters import draw_filters, filter_mosaic

    model = d2l.AlexNet(resize=67)
    weight = model.net[0].weight
    assert weight.requires_grad
    assert len(draw_filters(weight).axes) == 1
    np.testing.assert_array_equal(filter_mosaic(weight), filter_mosaic(d2l.to_numpy(weight)))


def test_predictions_from_two_threads_are_the_sequential_ones_and_leave_the_mode_alone():
    """predict/probabilities/features flip the model's one training flag for a batch: a second
    thread that started while the first held it in eval mode ran with dropout switched back on
    halfway, and left the model in eval mode. A hook on the first layer makes that interleaving
    certain (the first thread waits there for the second, which now waits for the first)."""
    import copy
    import pickle
    import threading

    torch.manual_seed(0)
    model = d2l.AlexNet(lr=0.01, resize=67)  # a fresh model is in training mode
    X = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    expected = model.probabilities(X)
    first_inside, second_inside, first_done = (threading.Event() for _ in range(3))

    def hold_the_first_batch(module, args):
        if threading.current_thread().name == "first":
            first_inside.set()
            second_inside.wait(1.0)  # (only until the second is inside, or a second's time)
        elif threading.current_thread().name == "second":
            second_inside.set()
            first_done.wait(1.0)

    hook = model.net[0].register_forward_pre_hook(hold_the_first_batch)
    results = {}

    def run(name):
        results[name] = model.probabilities(X)
        if name == "first":
            first_done.set()

    first = threading.Thread(target=run, args=("first",), name="first")
    second = threading.Thread(target=run, args=("second",), name="second")
    first.start()
    first_inside.wait(5.0)
    second.start()
    first.join()
    second.join()
    hook.remove()
    np.testing.assert_array_equal(results["first"], expected)
    np.testing.assert_array_equal(results["second"], expected)
    assert model.training
    for made in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):  # its lock stays
        np.testing.assert_array_equal(made.probabilities(X), expected)


if __name__ == "__main__":  # a process of two_process_batch_norm_run's, under torchrun
    import sys

    from d2l_alexnet.core.checkpoint import read_checkpoint

    def main(out, checkpoints, resume=None):
        d2l.initialize_distributed()
        trainer, model, history = fit_batch_norm_lesson(
            MixedBNLeNet, None if checkpoints == "-" else checkpoints,
            read_checkpoint(resume) if resume else None, num_gpus=2, device="cpu")
        statistics = {name: array.tolist() for name, array in moving_statistics(model).items()}
        with open(f"{out}.{trainer.replica_rank}.json", "w") as file:
            json.dump({"history": history, "statistics": statistics}, file)
        trainer.close()

    main(*sys.argv[1:])
