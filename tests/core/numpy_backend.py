"""A tiny backend in numpy for the core's tests: softmax regression on the 28×28 pixels, with
a dropout on the input so that its RNG is part of the state a checkpoint must carry.

It offers what the CLI takes from a backend module (``AlexNet``, ``FashionMNIST``, ``Trainer``,
``set_seed``, ``initialize_distributed``, ``PRECISIONS``, ``example_input_shape``), so a test can
hand this module to ``train.run`` in place of PyTorch (``train.load_backend`` patched), and what
a trainer test needs: ``SoftmaxRegression`` and ``NumpyTrainer``.
"""

import os

import numpy as np

from d2l_alexnet.core.datamodule import FashionMNISTBase
from d2l_alexnet.core.recipe import TrainingRecipe
from d2l_alexnet.core.trainer import TrainerBase
from d2l_alexnet.core.weights import save_safetensors

PRECISIONS = ("fp32",)
seed = 0  # set_seed's; the trainer's dropout RNG starts from it


def set_seed(value):
    global seed
    seed = value


def initialize_distributed():
    """One process, always."""


def example_input_shape(resize, in_channels=1):
    return (in_channels, resize)


class SoftmaxRegression:
    """Softmax regression on the 28×28 pixels; ``resize`` only names the data it expects
    (``None``: any)."""

    def __init__(self, lr=0.1, num_classes=10, resize=None, in_channels=1, **recipe):
        self.lr, self.num_classes, self.resize = lr, num_classes, resize
        self.in_channels = in_channels
        self.recipe = TrainingRecipe(lr=lr, **recipe)  # checkpointed; these steps use only lr
        self.W = np.zeros((28 * 28, num_classes))

    def layer_summary(self, shape):
        pass

    def save_weights(self, path, classes=None):
        with open(path, "wb") as stream:
            stream.write(self.W.tobytes())


AlexNet = SoftmaxRegression  # the name the CLI builds


class FashionMNIST(FashionMNISTBase):
    pass


class NumpyTrainer(TrainerBase):
    model_methods = ()  # its steps compute with the model's weights directly
    backend = "pytorch"  # the CLI runs it in place of that backend
    framework = "numpy"
    signal_at_step = None  # (step, signal[, times]): sent from inside that step, as by a person

    def gpu_available(self):
        return False

    def open_device(self, kind):
        return kind

    def prepare_model(self, model):
        self.rng = np.random.Generator(np.random.MT19937(seed))

    def prepare_batch(self, images, labels):
        return images.reshape(len(images), -1) / 255.0, labels

    def forward(self, X, y):
        with np.errstate(all="ignore"):  # a huge --lr makes NaNs on purpose
            logits = X @ self.model.W
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            return probs, -np.log(probs[np.arange(len(y)), y])

    def train_step(self, batch):
        X, y = batch
        X = X * (self.rng.random(X.shape) < 0.5) * 2  # dropout on the input: the RNG matters
        probs, losses = self.forward(X, y)
        probs[np.arange(len(y)), y] -= 1
        self.model.W -= self.model.lr * X.T @ probs / len(y)
        if self.signal_at_step is not None and self.step + 1 == self.signal_at_step[0]:
            # After the update, before the step is counted: the middle of a step.
            for _ in range(self.signal_at_step[2] if len(self.signal_at_step) > 2 else 1):
                os.kill(os.getpid(), self.signal_at_step[1])
        return losses.mean()

    def learning_rate(self):
        return self.model.lr  # its steps apply the model's rate, unscheduled

    def eval_step(self, batch):
        X, y = batch
        probs, losses = self.forward(X, y)
        return losses.sum(), (probs.argmax(axis=1) == y).sum()

    def check_saves_weights(self):
        """Its own weights file holds any model of it."""

    def save_weights(self, path, extra_metadata=None):
        """Its one weight matrix, not an AlexNet's layers (``KeepBest`` writes through this)."""
        save_safetensors(path, {"W": self.model.W}, extra_metadata)

    def state_arrays(self):
        state = self.rng.bit_generator.state["state"]
        return {"params.W": self.model.W, "rng.mt19937.key": state["key"],
                "rng.mt19937.pos": np.array([state["pos"]], dtype=np.int64)}

    def load_state_arrays(self, arrays):
        self.model.W[...] = arrays["params.W"]
        self.rng.bit_generator.state = {"bit_generator": "MT19937", "state": {
            "key": np.array(arrays["rng.mt19937.key"]), "pos": int(arrays["rng.mt19937.pos"][0])}}


Trainer = NumpyTrainer  # the name the CLI builds
