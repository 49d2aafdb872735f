"""The ``Trainer``: the shared fit loop's steps on MXNet Gluon, on one context or several."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..core.trainer import ReplicaError, TrainerBase, validation_sums
from . import runtime
from .data import resize_images
from .runtime import (_step_seed, add_all, check_numpy_mode, classic, device_array, num_gpus,
                      numpy_mode, to_numpy)


class Trainer(TrainerBase):
    """The shared fit loop with MXNet Gluon steps (d2l, sec_oo-design).

    ``num_gpus=N > 1``: the parameters live on N contexts (``gpu(0)``..., or ``cpu(0)``... with
    ``device="cpu"``), each global batch is split over them by ``gluon.utils.split_and_load``,
    and the Gluon trainer's ``device`` kvstore sums the gradients before every update.
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
        self.prepare_precision(model)
        if self.num_replicas > 1 and self.gradient_clip_val > 0:
            raise ReplicaError("gradient_clip_val is not supported on several MXNet contexts: "
                               "train on one, or without clipping")
        model.collect_params().reset_ctx(self.contexts if self.num_replicas > 1 else self.device)
        model.trainer = self
        self.optim = model.configure_optimizers()  # Gluon's default kvstore: "device"
        self.parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]

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
        total = sum(len(part) for part in labels)
        with autograd.record(train_mode=True):
            # Each context's share of the global batch's mean loss: the kvstore sums the
            # contexts' gradients, which is then the mean's gradient (so step(1), as above).
            losses = [self.model.loss(self.model(X), y, averaged=False).sum() / total
                      for X, y in zip(images, labels)]
        autograd.backward(losses)
        self.optim.step(1)
        for context in self.contexts:
            mx.random.seed(_step_seed(runtime._seed, self.step + 1), ctx=context)
        return add_all([loss.as_in_context(self.device) for loss in losses])

    def eval_step(self, batch: tuple[Any, ...]) -> tuple[Any, Any]:
        if self.num_replicas > 1:
            sums = [self._eval_sums(X, y) for X, y in zip(*batch[:2])]
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
        step = int(arrays["rng.step"][0]) if "rng.step" in arrays else 0
        if step:  # at step 0 the RNG is as set_seed and the model's initialization left it
            mx.random.seed(_step_seed(runtime._seed, step), ctx=self.device)
