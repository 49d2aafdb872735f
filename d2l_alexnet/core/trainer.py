"""The fit loop, written once for all backends (d2l, sec_oo-design's ``Trainer``).

A backend's ``Trainer`` supplies only the framework steps: :meth:`TrainerBase.select_device`,
:meth:`prepare_model`, :meth:`prepare_batch`, :meth:`train_step`, :meth:`eval_step` and
:meth:`to_float`. Everything a person sees (progress bar, one line per epoch, the ProgressBoard,
the metrics history) and the bookkeeping behind it lives here.
"""

import math
import time

from .architecture import minimum_resize
from .hyperparameters import HyperParameters
from .progress import ProgressBar, ProgressBoard

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("fp32", "bf16")


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, say); the message says what to change."""


class TrainerBase(HyperParameters):
    """``Trainer(max_epochs, num_gpus=0, gradient_clip_val=0)`` as in the book, plus:

    ``device``: ``"auto"`` (a GPU when there is one), ``"cpu"`` or ``"gpu"``; when left ``None``
    it is ``"auto"`` if ``num_gpus > 0`` and ``"cpu"`` otherwise, so the book's
    ``Trainer(max_epochs=10, num_gpus=1)`` runs on a machine without a GPU as well.
    ``precision``: ``"fp32"`` or ``"bf16"`` (mixed precision where the backend offers it).
    ``progress``: show the terminal bar; ``log``: where the per-epoch lines go (``None``: nowhere).
    ``board``: a :class:`ProgressBoard` (one is made when left ``None``).
    """

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0, *, device=None,
                 precision="fp32", progress=True, log=print, board=None):
        self.save_hyperparameters(ignore=["board"])
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
        if device is None:
            device = "auto" if num_gpus > 0 else "cpu"
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.device_request = device
        self.board = board if board is not None else ProgressBoard(xlabel="epoch")
        self.history = []
        self.callbacks = []  # called as callback(trainer, record) after every epoch

    # ---- framework steps, supplied by each backend -------------------------------------------
    def select_device(self, request):
        """Return a framework device for ``"auto"``/``"cpu"``/``"gpu"``; ``"gpu"`` without one
        raises ``RuntimeError`` with a hint."""
        raise NotImplementedError

    def device_name(self):
        """A short human name of the device in use (``"cpu"``, ``"cuda:0"``...)."""
        return str(self.device)

    def prepare_model(self, model):
        raise NotImplementedError

    def prepare_batch(self, images, labels):
        """uint8 numpy batch -> what ``train_step``/``eval_step`` take (on the device, resized)."""
        raise NotImplementedError

    def train_step(self, batch):
        """One optimizer step; returns the mean loss of the batch (may stay on the device)."""
        raise NotImplementedError

    def eval_step(self, batch):
        """Returns ``(sum of losses, number correct)`` for the batch (may stay on the device)."""
        raise NotImplementedError

    def to_float(self, value):
        return float(value)

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, model, data):
        """Train ``model`` on ``data`` for ``max_epochs``; returns the metrics history."""
        smallest = minimum_resize()
        if min(data.resize) < smallest:
            raise ValueError(f"images of {data.resize[0]}×{data.resize[1]} are too small for "
                             f"AlexNet: use a resize of at least {smallest} (the chapter uses 224)")
        model_resize = getattr(model, "resize", None)
        if model_resize is not None and tuple(data.resize) != (model_resize, model_resize):
            raise ValueError(f"the model was built for {model_resize}×{model_resize} images but "
                             f"the data is resized to {data.resize[0]}×{data.resize[1]}: pass "
                             f"the same resize to both")
        self.model, self.data = model, data
        self.device = self.select_device(self.device_request)
        self.prepare_model(model)
        if self.log is not None:
            self.log(f"training on {self.device_name()} ({self.precision}): "
                     f"{data.num_examples(True):,} images per epoch, batch {data.batch_size}, "
                     f"{self.max_epochs} epoch(s)")
        self.history = []
        for self.epoch in range(self.max_epochs):
            record = self.fit_epoch()
            self.history.append(record)
            if self.log is not None:
                self.log(format_epoch(record, self.max_epochs))
            for callback in self.callbacks:
                callback(self, record)
        return self.history

    def fit_epoch(self):
        data, epoch = self.data, self.epoch
        started = time.perf_counter()
        total = data.num_examples(train=True)
        bar = ProgressBar(total, f"epoch {epoch + 1}/{self.max_epochs}") if self.progress else None
        # Losses stay on the device until a bar update or a board point needs them: a host sync
        # every step would stall an accelerator's queue.
        pending, seen, loss_sum = [], 0, 0.0
        segment_sum, segment_seen = 0.0, 0
        points_per_epoch = 2  # the book's plot_train_per_epoch
        next_point = total / points_per_epoch

        def flush():
            nonlocal pending, loss_sum, segment_sum
            for loss, count in pending:
                value = self.to_float(loss)
                if not math.isfinite(value):
                    raise TrainingError(
                        f"the training loss became {value} in epoch {epoch + 1}: lower the "
                        f"learning rate (--lr, now {getattr(self.model, 'lr', '?')})")
                loss_sum += value * count
                segment_sum += value * count
            pending = []

        for images, labels in data.raw_batches(train=True, epoch=epoch):
            loss = self.train_step(self.prepare_batch(images, labels))
            pending.append((loss, len(labels)))
            seen += len(labels)
            segment_seen += len(labels)
            if seen >= next_point or seen == total:
                flush()
                self.board.draw(epoch + seen / total, segment_sum / segment_seen, "train_loss")
                segment_sum, segment_seen = 0.0, 0
                next_point += total / points_per_epoch
            if bar is not None and bar.due():
                flush()
                bar.update(seen, loss=loss_sum / seen)
        flush()
        train_seconds = time.perf_counter() - started
        if bar is not None:
            bar.update(seen, loss=loss_sum / max(seen, 1), force=True)
            bar.close()

        val_loss_sum = val_correct = 0.0
        val_seen = 0
        results = []
        for images, labels in data.raw_batches(train=False):
            results.append(self.eval_step(self.prepare_batch(images, labels)))
            val_seen += len(labels)
        for loss_total, correct in results:
            val_loss_sum += self.to_float(loss_total)
            val_correct += self.to_float(correct)
        seconds = time.perf_counter() - started
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(seen, 1),
            "val_loss": val_loss_sum / max(val_seen, 1),
            "val_acc": val_correct / max(val_seen, 1),
            "seconds": seconds,
            "images_per_sec": seen / train_seconds if train_seconds > 0 else 0.0,
        }
        self.board.draw(epoch + 1, record["val_loss"], "val_loss")
        self.board.draw(epoch + 1, record["val_acc"], "val_acc")
        return record


def format_epoch(record, max_epochs):
    """The one line per epoch that the CLI and the notebooks print."""
    return (f"epoch {record['epoch']}/{max_epochs}: train_loss {record['train_loss']:.4f}  "
            f"val_loss {record['val_loss']:.4f}  val_acc {record['val_acc']:.4f}  "
            f"{record['seconds']:.1f} s  {record['images_per_sec']:.1f} img/s")
