"""The ``Trainer``: the shared fit loop's steps on MXNet Gluon, on one context or several."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from ..core.trainer import ReplicaError, TrainerBase, validation_sums
from . import runtime
from .data import resize_images
from .runtime import (_step_seed, add_all, check_float32_parameters, check_numpy_mode, classic,
                      device_array, num_gpus, numpy_mode, to_numpy)


class Trainer(TrainerBase):
    """The shared fit loop with MXNet Gluon steps (d2l, sec_oo-design).

    ``num_gpus=N > 1``: the parameters live on N contexts (``gpu(0)``..., or ``cpu(0)``... with
    ``device="cpu"``), each global batch is split over them by ``gluon.utils.split_and_load``,
    and the Gluon trainer's ``device`` kvstore sums the gradients before every update. Each
    replica's forward runs under its context, so that a block's ``param.data()`` (the book's
    from-scratch layers) is that replica's copy, and normalizes the replica's share on its own.
    Moving statistics (Gluon ``BatchNorm``'s, and the arrays a block keeps as attributes, such as
    the book's from-scratch ``BatchNorm``'s) are updated by every replica from the same values
    and then averaged, each replica weighted by its share of the batch: one value on every
    context, which checkpoints keep.
    """

    backend, framework = "mxnet", "MXNet"

    def gpu_available(self) -> bool:
        return num_gpus() > 0

    def open_device(self, kind: str) -> mx.Context:
        context = mx.gpu if kind == "gpu" else mx.cpu
        if context is mx.gpu and num_gpus() < self.num_replicas:
            raise ReplicaError(f"{self.num_replicas} replicas need {self.num_replicas} GPUs but "
                               f"MXNet sees {num_gpus()}: use --devices {num_gpus()} or fewer")
        self.contexts = [context(index) for index in range(self.num_replicas)]
        return self.contexts[0]

    def describe_device(self) -> str:
        return "cpu" if self.device.device_type == "cpu" else f"gpu:{self.device.device_id}"

    def prepare_model(self, model: Any) -> None:
        check_numpy_mode(model)  # (NumPy mode turned on or off after the model was built)
        check_float32_parameters(model)  # (a Gluon model.cast("float16"))
        self.prepare_precision(model)
        if self.num_replicas > 1 and self.gradient_clip_val > 0:
            raise ReplicaError("gradient_clip_val is not supported on several MXNet contexts: "
                               "train on one, or without clipping")
        model.collect_params().reset_ctx(self.contexts if self.num_replicas > 1 else self.device)
        self._finish_deferred_initialization(model)
        #: Arrays the model's blocks keep as attributes (state their forward updates).
        self.array_attributes = array_attributes(model)
        self.running_statistics = [param for block in blocks_of(model)
                                   if isinstance(block, nn.BatchNorm)
                                   for param in (block.running_mean, block.running_var)]
        model.trainer = self
        self.optim = model.configure_optimizers()  # Gluon's default kvstore: "device"
        self.parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]

    def _finish_deferred_initialization(self, model: Any) -> None:
        """A lesson's layers that say not their input sizes (the book's Gluon code) get their
        parameters at their first forward pass: make them now, by one in predict mode on zeros
        shaped as an image of the first training batch, so that a checkpoint can be written or
        restored before the first step (Gluon draws them as that step would have)."""
        if not any(param._deferred_init for param in model.collect_params().values()):
            return
        images = self.first_training_images()
        if images is None:
            return  # no batch to size them from: fit refuses the empty data in its own words
        zeros = np.zeros_like(np.asarray(images[:1]))
        X = resize_images(zeros, self.input_size or zeros.shape[1:3], ctx=self.device)
        with self.device, autograd.predict_mode():
            model(X)

    def prepare_precision(self, model: Any) -> None:
        """bf16: MXNet's AMP, on from here for the whole process (runtime.start_bf16_amp). fp32
        after that is refused, since AMP cannot be turned off and would quietly train in bf16."""
        if self.precision == "bf16":
            if numpy_mode():
                raise ValueError("precision 'bf16' is MXNet's mixed precision on classic "
                                 "NDArrays, and NumPy mode (npx.set_np()) is on: train in "
                                 "precision='fp32', or call npx.reset_np() before building")
            if "bf16" not in runtime.PRECISIONS:
                raise ValueError("precision 'bf16' needs a CPU with AVX-512 in MXNet 1.9 (its "
                                 "bf16 convolutions are oneDNN's), and this one has none: use "
                                 "precision='fp32'")
            if self.device.device_type != "cpu":
                raise ValueError("precision 'bf16' runs on the CPU only in MXNet 1.9 (its bf16 "
                                 "kernels are oneDNN's): use --precision fp32 on a GPU")
            runtime.start_bf16_amp()
            # A graph hybridized before AMP was on (a forward already run) holds fp32
            # operators: drop it, so that the next forward traces the bf16 one.
            model.apply(lambda block: block._clear_cached_op()
                        if isinstance(block, gluon.HybridBlock) else None)
        elif runtime.bf16_amp_on():
            raise ValueError("this process already trained MXNet in bf16, and MXNet's mixed "
                             "precision cannot be turned off: train in fp32 in a new process, "
                             "or keep precision='bf16'")

    def prepare_batch(self, images: np.ndarray, labels: np.ndarray) -> tuple[Any, ...]:
        images = device_array(images, self.device, images.dtype)  # uint8: 4x less to copy
        labels = device_array(labels, self.device, "int32")
        size = self.input_size or images.shape[1:3]
        if self.num_replicas == 1:
            return resize_images(images, size), labels
        # A short last batch may have fewer images than there are contexts: it uses fewer.
        contexts = self.contexts[:min(self.num_replicas, len(labels))]
        parts = (gluon.utils.split_and_load(array, contexts, even_split=False)
                 for array in (images, labels))
        images, labels = parts
        return ([resize_images(part, size) for part in images], labels, len(labels))

    def train_step(self, batch: tuple[Any, ...]) -> mx.nd.NDArray:
        if self.num_replicas > 1:
            return self._replica_train_step(*batch)
        with autograd.record(train_mode=True):  # train_mode: dropout is active
            loss = self.model.training_step(batch)  # the batch's mean loss...
        loss.backward()
        if self.gradient_clip_val > 0:
            grads = [classic(p.grad(self.device)) for p in self.parameters]  # same memory
            # check_isfinite=False: no host sync; a NaN shows up in the loss anyway.
            gluon.utils.clip_global_norm(grads, self.gradient_clip_val, check_isfinite=False)
        self.optim.step(1)  # ...so step(1): Trainer.step(n) divides the gradients by n
        mx.random.seed(_step_seed(runtime._seed, self.step + 1), ctx=self.device)  # see _step_seed
        return loss

    def _replica_train_step(self, images, labels, _):
        sizes = [len(part) for part in labels]
        total = sum(sizes)
        before = [getattr(block, name) for block, name in self.array_attributes]
        losses, updated = [], []
        with autograd.record(train_mode=True):
            for context, X, y in zip(self.contexts, images, labels):
                given = [array.as_in_context(context) for array in before]
                for (block, name), array in zip(self.array_attributes, given):
                    setattr(block, name, array)  # every replica updates from the same values
                with context:  # param.data() without a context: this replica's copy
                    # Each context's share of the global batch's mean loss: the kvstore sums
                    # the contexts' gradients, which is then the mean's (so step(1), as above).
                    losses.append(self.model.loss(self.model(X), y, averaged=False).sum() / total)
                updated.append([None if getattr(block, name) is array else getattr(block, name)
                                for (block, name), array in zip(self.array_attributes, given)])
        autograd.backward(losses)
        self._clear_idle_gradients(len(sizes))
        self.optim.step(1)
        self._average_moving_statistics(before, updated, sizes)
        for context in self.contexts:
            mx.random.seed(_step_seed(runtime._seed, self.step + 1), ctx=context)
        return add_all([loss.as_in_context(self.device) for loss in losses])

    def _clear_idle_gradients(self, used: int) -> None:
        """Zero gradients on the contexts past the first ``used`` (a short batch with fewer
        images than contexts ran no backward there): the kvstore sums every context's, and
        would add the previous step's there, or refuse them as stale on the first step."""
        if used == len(self.contexts):
            return
        for param in self.parameters:
            for data, grad in list(zip(param.list_data(), param.list_grad()))[used:]:
                grad[:] = 0
                data._fresh_grad = True  # (a zero share of the batch's gradient, not stale)

    def _average_moving_statistics(self, before: list[Any], updated: list[list[Any]],
                                   sizes: list[int]) -> None:
        """One value of each moving statistic on every context after a step on several: the
        replicas' values averaged, each weighted by its share of the batch (as one device's
        moving mean, from the whole batch's mean); an attribute no replica changed stays."""
        total = sum(sizes)
        for index, (block, name) in enumerate(self.array_attributes):
            values = [replica[index] for replica in updated]
            if all(value is None for value in values):
                setattr(block, name, before[index])
                continue
            setattr(block, name, add_all([
                (before[index] if value is None else value).as_in_context(self.device)
                * (size / total) for value, size in zip(values, sizes)]))
        for param in self.running_statistics:  # a context with no share (a short batch): 0
            copies = param.list_data()[:len(sizes)]
            param.set_data(add_all([copy.as_in_context(self.device) * (size / total)
                                    for copy, size in zip(copies, sizes)]))

    def eval_step(self, batch: tuple[Any, ...]) -> tuple[Any, Any]:
        if self.num_replicas > 1:
            sums = []
            for context, X, y in zip(self.contexts, *batch[:2]):
                with context:  # param.data() without a context: this replica's copy
                    sums.append(self._eval_sums(X, y))
            return tuple(add_all([part[index].as_in_context(self.device) for part in sums])
                         for index in range(2))
        return self._eval_sums(*batch)

    def _eval_sums(self, X, y):
        Y_hat = self.model(X)  # outside autograd.record: predict mode, no dropout
        return validation_sums(self.model, Y_hat, y)

    def learning_rate(self) -> float:
        """The rate the next update applies: the scheduler at the next update count."""
        optimizer = self.optim._optimizer
        if optimizer.lr_scheduler is None:
            return float(optimizer.lr)
        return float(optimizer.lr_scheduler(optimizer.num_update + 1))

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Parameters (by position: Gluon's names carry per-process counters) and the SGD
        state: its update count and any per-parameter slots (none without momentum). No RNG
        state beyond the step its dropout seed derives from (:func:`_step_seed`)."""
        arrays = {f"params.{index:02d}.{name.rsplit('_', 1)[-1]}": to_numpy(param.data(self.device))
                  for index, (name, param) in enumerate(self.model.collect_params().items())}
        optimizer = self.optim._optimizer
        arrays["optimizer.num_update"] = np.array([optimizer.num_update], dtype=np.int64)
        for index, slot in sorted(self._optimizer_updater().states.items()):
            if slot is not None:
                if not isinstance(slot, mx.nd.NDArray):
                    raise TypeError(f"cannot checkpoint optimizer state of type {type(slot)}")
                arrays[f"optimizer.state.{index}"] = to_numpy(slot)
        arrays["rng.step"] = np.array([self.step], dtype=np.int64)
        for index, (block, name) in enumerate(self.array_attributes):
            arrays[f"state.{index:02d}.{name}"] = to_numpy(getattr(block, name))
        return arrays

    def _optimizer_updater(self) -> Any:
        """The Gluon updater that holds the SGD slots (momentum): on several contexts the
        ``device`` kvstore applies the updates and keeps them, on one the trainer's own
        updater does. The kvstore is made now if no step has made it yet."""
        if not self.optim._kv_initialized:
            self.optim._init_kvstore()
        if self.optim._update_on_kvstore:
            return self.optim._kvstore._updater
        return self.optim._updaters[0]

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for index, (name, param) in enumerate(self.model.collect_params().items()):
            array = arrays[f"params.{index:02d}.{name.rsplit('_', 1)[-1]}"]
            param.set_data(device_array(array, self.device, array.dtype))  # every context
        optimizer = self.optim._optimizer
        if "optimizer.num_update" in arrays:
            count = int(arrays["optimizer.num_update"][0])
            optimizer.num_update = count
            if count:  # per parameter index, kept per device (the updater switches to it)
                counts = optimizer._all_index_update_counts.setdefault(self.device.device_id, {})
                counts.update(dict.fromkeys(range(len(self.optim._params)), count))
        updater = self._optimizer_updater()
        for name, array in arrays.items():
            if name.startswith("optimizer.state."):
                index = int(name.rsplit(".", 1)[1])
                updater.states[index] = mx.nd.array(array, ctx=self.device, dtype=array.dtype)
                updater.states_synced[index] = True
        for index, (block, name) in enumerate(self.array_attributes):
            array = arrays[f"state.{index:02d}.{name}"]
            setattr(block, name, device_array(array, self.device, array.dtype))
        step = int(arrays["rng.step"][0]) if "rng.step" in arrays else 0
        if step:  # at step 0 the RNG is as set_seed and the model's initialization left it
            mx.random.seed(_step_seed(runtime._seed, step), ctx=self.device)


def blocks_of(model: gluon.Block) -> list[gluon.Block]:
    """``model`` and every block inside it, each once, in Gluon's order (children first)."""
    blocks: list[gluon.Block] = []
    model.apply(lambda block: None if any(block is seen for seen in blocks)
                else blocks.append(block))
    return blocks


def array_attributes(model: gluon.Block) -> list[tuple[gluon.Block, str]]:
    """``(block, name)`` of every MXNet array that a block of ``model`` keeps as an attribute
    rather than a Parameter: state its forward updates, such as the moving mean and variance of
    the book's from-scratch ``BatchNorm`` (d2l, sec_batch_norm)."""
    return [(block, name) for block in blocks_of(model)
            for name, value in vars(block).items() if isinstance(value, mx.nd.NDArray)]
