"""The cross-backend parity fixture, written by the PyTorch backend (the reference).

``test_parity.py`` checks every backend against it. Backends run in separate processes, and MXNet
in its own environment, so the fixture is a directory of files rather than objects in memory:

- ``trained.safetensors``: AlexNet trained briefly in PyTorch (canonical weights);
- ``stepped.safetensors``: those weights after one SGD step on the fixed batch, dropout off;
- ``arrays.npz``: the fixed batch (uint8 images, labels), PyTorch's evaluation-mode logits of
  the trained weights on it, and the validation images and labels the accuracy is measured on;
- ``manifest.json`` (written last, so its presence means the rest is complete): the settings and
  PyTorch's validation loss and accuracy.

``tools/run_tests.py`` names the directory in ``D2L_ALEXNET_PARITY_DIR`` and runs this script
into it before the suites start. Run as a script (``python parity_fixture.py DIR``) it writes
the fixture into DIR: that is how a plain ``pytest --backend jax`` makes one without importing
two frameworks into one process. At the end: the evaluation-mode logits and canonical
parameters the contract and parity tests share.
"""

import os
import sys

import numpy as np

ENV = "D2L_ALEXNET_PARITY_DIR"
MANIFEST = "manifest.json"
RESIZE = 67  # the smallest input AlexNet accepts: the whole fixture takes seconds on a CPU
TRAIN_IMAGES, TRAIN_BATCH, TRAIN_LR = 1024, 32, 0.1  # one epoch: about 0.3 accuracy
VAL_IMAGES = 200
BATCH = 16  # the fixed batch: logits and the one SGD step
STEP_LR = 0.1
# The fixed batch is the window of BATCH validation images (of the first CANDIDATES) whose
# hidden dense units stay furthest from ReLU's kink, relative to their scale. A pre-activation
# within rounding of 0 takes ReLU's other branch in another framework, and so sends that
# unit's whole gradient, and every lower layer's share of it, another way: measured once, one
# unit of 4,096 did so in TensorFlow, and the step's updates differed by 1% (15% in its row).
CANDIDATES = 8


def write(directory):
    """Train, step and record with the PyTorch backend; files go into ``directory``."""
    import torch

    from d2l_alexnet import torch as d2l
    from d2l_alexnet.core.files import atomic_write_json

    os.makedirs(directory, exist_ok=True)
    manifest = os.path.join(directory, MANIFEST)
    if os.path.exists(manifest):
        os.remove(manifest)  # a half-rewritten fixture must never look complete
    d2l.set_seed(0)
    data = d2l.FashionMNIST(batch_size=TRAIN_BATCH, resize=(RESIZE, RESIZE),
                            limit_train=TRAIN_IMAGES, limit_val=VAL_IMAGES, log=None)
    model = d2l.AlexNet(lr=TRAIN_LR, resize=RESIZE)
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    trained = os.path.join(directory, "trained.safetensors")
    model.save_weights(trained)

    start = max(range(0, CANDIDATES * BATCH, BATCH),
                key=lambda first: dense_margin(torch, d2l, model,
                                               data.val_images[first:first + BATCH]))
    images, labels = data.val_images[start:start + BATCH], data.val_labels[start:start + BATCH]
    reference_logits = logits(d2l, model, images)

    # One SGD step with dropout off (rate 0), so every backend computes the same update.
    stepper = d2l.AlexNet(lr=STEP_LR, resize=RESIZE, dropout=0.0).load_weights(trained)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(stepper, one_batch(d2l, images,
                                                                               labels))
    stepper.save_weights(os.path.join(directory, "stepped.safetensors"))

    np.savez(os.path.join(directory, "arrays.npz"), images=images, labels=labels,
             logits=reference_logits, val_images=data.val_images, val_labels=data.val_labels)
    atomic_write_json(manifest, {"resize": RESIZE, "step_lr": STEP_LR,
                                 "val_loss": history[-1]["val_loss"],
                                 "val_acc": history[-1]["val_acc"],
                                 "num_val": int(len(data.val_labels)),
                                 "torch": torch.__version__})


def dense_margin(torch, d2l, model, images):
    """The smallest ``|pre-activation| / max |pre-activation|`` of the hidden dense layers'
    ReLUs on ``images`` (PyTorch's network, evaluation mode)."""
    margins = []
    with torch.no_grad():
        X = torch.as_tensor(d2l.resize_images(images, (RESIZE, RESIZE)))
        previous = None
        for layer in model.net:
            if isinstance(layer, torch.nn.ReLU) and isinstance(previous, torch.nn.Linear):
                margins.append(float(X.abs().min() / X.abs().max()))
            if not isinstance(layer, torch.nn.Dropout):
                X = layer(X)
            previous = layer
    return min(margins)


def one_batch(d2l, images, labels):
    """A ``d2l.FashionMNIST`` of one training batch of exactly ``images`` (so one epoch is one
    step, in the same order everywhere), validated on the same images."""
    return with_split(d2l, images, labels, train=True)


def with_split(d2l, images, labels, train=False):
    """A ``d2l.FashionMNIST`` whose validation split (and training split when ``train``) is
    exactly ``images``, in one batch."""
    data = d2l.FashionMNIST(batch_size=len(labels), resize=(RESIZE, RESIZE), limit_train=1,
                            limit_val=1, log=None)
    data.val_images, data.val_labels = images, labels
    if train:
        data.train_images, data.train_labels = images, labels
    return data


# ---- what the contract and parity tests share ------------------------------------------------

def logits(d2l, model, images):
    """Evaluation-mode (no dropout) fp32 logits of uint8 ``images`` as a numpy array, through
    the one call every backend's model has (``evaluate_batch``). The models here are built on
    the CPU and stay there: a GPU may compute fp32 convolutions in TF32, which the parity
    tolerance does not allow."""
    return model.evaluate_batch(d2l.resize_images(images, (RESIZE, RESIZE)), features=False)


def canonical_after_fit(model, path):
    """The model's parameters (after ``fit``, say), as canonical tensors, via the weights file."""
    from d2l_alexnet.core.weights import load_safetensors

    model.save_weights(path)
    return load_safetensors(path)[0]


if __name__ == "__main__":
    write(sys.argv[1])
