"""The shared fit loop's PyTorch steps: ``Trainer`` (one process per device under torchrun)."""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import distributed as dist
from torch import nn

from ..core.checkpoint import Checkpoint
from ..core.errors import D2LAlexNetError
from ..core.trainer import (COMPILE_MODES, ReplicaError, TrainerBase, TrainingInterrupted,
                            replica_slices, validation_sums)
from .data import resize_images
from .runtime import check_cpu_compiler, mps_available, to_numpy


class Trainer(TrainerBase):
    """The shared fit loop with PyTorch steps (d2l, sec_oo-design).

    Several devices: one process per device, launched by ``torchrun --nproc-per-node N``
    (several machines: torchrun's ``--nnodes``/``--rdzv-*`` flags). Each process finds its
    rank in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, joins the process group (NCCL on GPUs, Gloo
    on the CPU) and trains a ``DistributedDataParallel`` copy on its slice of every global batch.
    ``num_gpus``, when above 1, must then equal ``WORLD_SIZE``.

    ``compile``: run the training step's forward and backward passes and the evaluation step
    through ``torch.compile`` (off by default: on the CPU its steps measured no faster than
    eager ones, after 30–50 s of compiling). ``True`` takes the
    device's mode, ``"reduce-overhead"`` (CUDA graphs) on CUDA and ``"default"`` elsewhere; a
    name of :data:`~d2l_alexnet.core.trainer.COMPILE_MODES` takes that mode. One device only.
    """

    backend, framework = "pytorch", "PyTorch"
    CPU_REPLICAS = 'device="cpu" under torchrun --nproc-per-node {count}'
    supports_data_on_device = True
    # Its processes stop at one step boundary, whichever got the signal (check_stop): the CLI
    # then takes a first signal at a boundary in every process, checkpoints or not.
    stops_together = True

    def __init__(self, max_epochs: int, num_gpus: int = 0, gradient_clip_val: float = 0, *,
                 compile: bool | str = False, **options: Any) -> None:
        super().__init__(max_epochs, num_gpus, gradient_clip_val, **options)
        if not isinstance(compile, bool) and compile not in COMPILE_MODES:
            raise ValueError(f"compile must be True, False or one of "
                             f"{', '.join(COMPILE_MODES)}, got {compile!r}")
        if compile and self.num_replicas > 1:
            raise ReplicaError("compile (--compile) trains on one device: torch.compile under "
                               "DistributedDataParallel is not tested here; drop it, or train "
                               "on one device")
        self.compile = compile
        # Several processes: a Gloo group of their own for the stop votes (open_device), and
        # the vote each process cast at the last step boundary, still on its way.
        self.vote_group: Any = None
        self.pending_vote: tuple[torch.Tensor, Any] | None = None

    def replicas(self, requested: int) -> tuple[int, int]:
        """One process per replica: torchrun's ``WORLD_SIZE`` and ``RANK`` say how many and
        which; ``num_gpus`` above 1 must agree."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if requested > 1 and requested != world_size:
            launcher = f"torch.distributed.run --nproc-per-node {requested}"
            raise ReplicaError(f"PyTorch trains on {requested} devices as {requested} processes: "
                               f"launch with torchrun --nproc-per-node {requested} (python -m "
                               f"{launcher}, where torchrun is not on PATH) followed by the "
                               f"script, or -m d2l_alexnet.train, and its arguments (WORLD_SIZE "
                               f"is {world_size})")
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return world_size, int(os.environ.get("RANK", "0"))

    def gpu_available(self) -> bool:
        """CUDA, or Apple's MPS (fp32 on one device only: bf16 autocast and several processes
        there are not tested by us)."""
        return torch.cuda.is_available() or (mps_available() and self.precision == "fp32"
                                             and self.num_replicas == 1)

    def no_gpu_message(self) -> str:
        if mps_available():
            return ("PyTorch sees Apple's MPS GPU, which trains here in fp32 on one device "
                    "only: use --precision fp32 without --devices, or --device cpu")
        return "no CUDA GPU is visible to PyTorch: use --device cpu or auto"

    def open_device(self, kind: str) -> torch.device:
        if kind == "cpu":
            device = torch.device("cpu")
        elif torch.cuda.is_available():
            device = torch.device(f"cuda:{self.local_rank if self.num_replicas > 1 else 0}")
        else:
            device = torch.device("mps")
        if self.num_replicas > 1 and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            # env:// rendezvous: torchrun sets MASTER_ADDR/MASTER_PORT, RANK and WORLD_SIZE.
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if self.num_replicas > 1 and self.vote_group is None:
            # On the host even beside NCCL: a vote never waits for the GPU.
            self.vote_group = dist.new_group(backend="gloo")
        if self.compile and device.type == "cpu":
            check_cpu_compiler()  # before the run writes anything, not at its first step
        return device

    def prepare_model(self, model: Any) -> None:
        if any(isinstance(parameter, nn.parameter.UninitializedParameter)
               for parameter in model.parameters()):
            # The book's Trainer lets the first batch make them; this one places, counts and
            # checkpoints the parameters before its first step.
            raise ValueError(f"{type(model).__name__} has parameters that do not exist yet "
                             "(lazy layers), which this Trainer needs before its first step "
                             "(the book's makes them at its first batch): run "
                             "model.apply_init([X], d2l.init_cnn) first, X a batch of the "
                             "data (next(iter(data.train_dataloader()))[0]), as the book's "
                             "ResNet cell does")
        # Channels-last (NHWC in memory) lets oneDNN and cuDNN pick their fastest convolutions
        # (the figures: BENCHMARKS.md).
        model.to(self.device, memory_format=torch.channels_last)
        model.trainer = self
        self.network = model
        if self.num_replicas > 1:
            # DDP broadcasts rank 0's weights and averages the gradients in backward().
            self.network = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.optim, self.scheduler_config = optimizer_and_scheduler(model.configure_optimizers())
        # The state each replica step averages, listed once its first forward pass has made
        # what a lesson's module makes lazily (listing it took 0.8 ms, at every step).
        self.known_statistics: list[tuple[nn.Module, str]] | None = None
        self.compile_mode = self.chosen_compile_mode()
        self.training_loss, self.validation_outputs = self.eager_loss, self.eager_validation
        if self.compile_mode is not None:
            # dynamic=False: one graph for the full batch (tests/backends/test_torch.py counts
            # them). A pass's short last batch runs eagerly (takes_compiled_step): its own
            # graph took 32 s more on the 2-core EPYC, at 67×67, for one step per epoch (the
            # first step took 40 s, the others 1.4 s). The optimizer step stays eager: SGD over
            # 16 tensors is a few fused kernels, and a scheduled learning rate, a new Python
            # float at every step, would recompile it at every step.
            self.training_loss = torch.compile(self.eager_loss, mode=self.compile_mode,
                                               dynamic=False)
            self.validation_outputs = torch.compile(self.eager_validation,
                                                    mode=self.compile_mode, dynamic=False)

    def autocasting(self) -> torch.autocast:
        """bf16 autocast under ``precision="bf16"``, else nothing. Made anew for each step: a
        compiled step then depends on the device and the precision, not on this trainer, so
        another trainer's run reuses its graphs."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    def chosen_compile_mode(self) -> str | None:
        """The ``torch.compile`` mode of this run on its device; ``None``: eager."""
        if self.compile is True:
            return "reduce-overhead" if self.device.type == "cuda" else "default"
        return self.compile or None

    def prepare_batch(self, images: np.ndarray, labels: np.ndarray) -> tuple[Any, ...]:
        total = len(labels)
        if self.num_replicas > 1:  # this rank's slice of the global batch
            mine = replica_slices(total, self.num_replicas)[self.replica_rank]
            images, labels = images[mine], labels[mine]
        images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        labels = torch.from_numpy(labels.astype(np.int64)).to(self.device, non_blocking=True)
        return self.model_input(images, labels, total)

    def model_input(self, images: torch.Tensor, labels: torch.Tensor, total: int,
                    ) -> tuple[Any, ...]:
        """A batch already on the device -> the steps' input: resized, channels-last, with the
        global batch's size when there are replicas."""
        X = resize_images(images, self.input_size or images.shape[1:3])
        X = X.contiguous(memory_format=torch.channels_last)
        return (X, labels) if self.num_replicas == 1 else (X, labels, total)

    # ---- data_on_device: the splits on the device, each batch gathered there --------------
    def device_is_gpu(self) -> bool:
        return self.device.type != "cpu"

    def put_data_on_device(self, splits: Mapping[bool, tuple[np.ndarray, np.ndarray]]) -> None:
        # Every rank holds the whole splits and gathers its slice of each global batch.
        self.device_splits = {
            train: (torch.from_numpy(np.ascontiguousarray(images)).to(self.device),
                    torch.from_numpy(labels.astype(np.int64)).to(self.device))
            for train, (images, labels) in splits.items()}

    def device_order(self, indices: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(indices.astype(np.int64)).to(self.device)

    def gather_batch(self, train: bool, order: torch.Tensor, start: int, count: int,
                     ) -> tuple[Any, ...]:
        # The pass's order is on the device already (uploaded once per epoch): a step slices
        # it there, so nothing is copied from the host.
        chosen = order[start:start + count]
        if self.num_replicas > 1:  # this rank's slice of the global batch
            chosen = chosen[replica_slices(count, self.num_replicas)[self.replica_rank]]
        images, labels = self.device_splits[train]
        return self.model_input(images[chosen], labels[chosen], count)

    def train_step(self, batch: tuple[Any, ...]) -> torch.Tensor:
        if self.num_replicas > 1:
            return self._replica_train_step(*batch)
        self.model.train()
        # The last step's gradients go first: under CUDA graphs, this step's forward may
        # reuse their memory.
        self.optim.zero_grad(set_to_none=True)
        self.begin_compiled_step()
        compiled = self.takes_compiled_step(batch, train=True)
        loss = (self.training_loss if compiled else self.eager_loss)(batch)
        loss.backward()
        if self.gradient_clip_val > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_val)
        self.optimizer_step()
        return self.kept(loss.detach())

    def eager_loss(self, batch: tuple[Any, ...]) -> torch.Tensor:
        """The model's training loss on ``batch`` (what ``compile`` compiles, with its
        backward pass)."""
        with self.autocasting():
            return self.model.training_step(batch)

    def eager_validation(self, X: torch.Tensor, labels: torch.Tensor) -> tuple[Any, Any]:
        """``(sum of losses, number correct)`` of the model on one batch."""
        with self.autocasting():
            return validation_sums(self.model, self.model(X).float(), labels)

    def takes_compiled_step(self, batch: tuple[Any, ...], train: bool) -> bool:
        """Whether ``batch`` has the one size a split's compiled step takes, its full batches'
        (:meth:`full_batch_size`): a pass's short last batch runs eagerly rather than compile
        again. For a loader with no ``batch_size``, the full size is its pass's first batch's."""
        return len(batch[1]) == self.full_batch_size(train)

    def begin_compiled_step(self) -> None:
        """Tell CUDA graphs that a new step begins, so that it may reuse the last one's
        memory (the values kept from it were copied: :meth:`kept`)."""
        if self.compile_mode is not None:
            torch.compiler.cudagraph_mark_step_begin()

    def kept(self, value: Any) -> Any:
        """``value`` (a tensor, or a tuple of them) as the loop may keep it past the next step:
        a copy under ``compile``, as a CUDA graph's next replay overwrites its outputs."""
        if self.compile_mode is None:
            return value
        if isinstance(value, tuple):
            return tuple(tensor.clone() for tensor in value)
        return value.clone()

    def _replica_train_step(self, X, labels, total):
        with self.own_random_stream():
            return self._replica_step(X, labels, total)

    @contextlib.contextmanager
    def own_random_stream(self) -> Iterator[None]:
        """This process's own random stream for one step (its dropout masks), seeded from
        the stream all processes share, which then goes on as if nothing else had drawn from
        it. Each process drew from the shared stream itself: all drew the same masks (image
        ``i`` of every slice got the same), and processes with slices of other sizes (batch 5
        on 2: 3 and 2 images) drew other amounts, so their streams drifted apart and a
        checkpoint, which holds the first process's, resumed the others on another one. Now
        every process holds the same shared stream at each step boundary, so the first
        process's state is every process's, and a resumed run goes on bit for bit."""
        step_seed = int(torch.randint(2**48, (1,)))  # the same draw in every process
        cuda = self.device.type == "cuda"
        with torch.random.fork_rng(devices=[self.device] if cuda else []):
            seed = step_seed * self.num_replicas + self.replica_rank
            torch.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed(seed)  # this process's device (open_device set it)
            yield

    def _replica_step(self, X, labels, total):
        self.network.train()
        statistics = (moving_statistics(self.model) if self.known_statistics is None
                      else self.known_statistics)
        before = [getattr(module, name).detach().clone() for module, name in statistics]
        with self.autocasting():
            loss_sum = self.model.loss(self.network(X), labels, averaged=False).sum()
        # DDP averages the replicas' gradients: scaled so, they are the global batch mean's
        # even when the slices differ in size.
        self.optim.zero_grad(set_to_none=True)
        (loss_sum * (self.num_replicas / total)).backward()
        if self.gradient_clip_val > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_val)
        self.optimizer_step()
        self._average_moving_statistics(statistics, before, len(labels) / total)
        if self.known_statistics is None:
            self.known_statistics = moving_statistics(self.model)
        loss_sum = loss_sum.detach().float()
        dist.all_reduce(loss_sum)
        return loss_sum / total

    def _average_moving_statistics(self, statistics: list[tuple[nn.Module, str]],
                                   before: list[torch.Tensor], share: float) -> None:
        """One value of each moving statistic in every process after a step: each process's
        change weighted by its ``share`` of the global batch and summed over the processes,
        as MXNet's replicas do. Each process normalized its own slice, so its statistics
        drifted from the others' (DDP broadcasts rank 0's buffers at the next forward pass,
        dropping the others' updates, and attributes not at all): evaluation then mixed
        them and a resumed run had rank 0's everywhere. The moving mean now follows the whole
        batch's mean, as on one device; a statistic no step changed stays bit for bit."""
        with torch.no_grad():
            for (module, name), old in zip(statistics, before):
                new = getattr(module, name)
                old = old.to(new.device)
                if old.shape != new.shape:  # made anew at this forward pass: average the values
                    old = torch.zeros_like(new)
                # A process with no examples in a short last batch has nothing to add (its
                # statistics of no values may be NaN).
                change = (new - old) * share if share else torch.zeros_like(new)
                dist.all_reduce(change)
                new.copy_(old + change)

    def check_stop(self) -> None:
        """Between two steps: stop if a stop was requested, in every process at the same
        boundary. A signal may reach one process only, or each at another moment: a process
        that stopped alone would leave the others waiting in the next step's all-reduce (they
        died with Gloo's "Connection closed by peer", and nothing was saved). So at each
        boundary every process casts its vote (the largest signal number wins), and all stop
        at the next boundary when any voted to: the first process then saves the checkpoint."""
        if self.num_replicas == 1:
            super().check_stop()
            return
        agreed = self.agreed_stop()
        if agreed is not None:  # this process's own reason, if the signal reached it too
            raise TrainingInterrupted(self.stop_requested or agreed)

    def agreed_stop(self) -> str | None:
        """The stop the processes agreed on at the last boundary (``None``: go on), after
        casting this boundary's vote: on its way while the next step runs, so that no step
        waits for it (a stop takes one step more to be agreed)."""
        vote = torch.tensor([stop_code(self.stop_requested)], dtype=torch.int64)
        work = dist.all_reduce(vote, op=dist.ReduceOp.MAX, group=self.vote_group, async_op=True)
        counted, self.pending_vote = self.pending_vote, (vote, work)
        if counted is None:
            return None
        counted[1].wait()
        code = int(counted[0])
        if code == 0:
            return None
        self.pending_vote[1].wait()  # every process cast it: none is left in flight
        self.pending_vote = None
        return signal.Signals(code).name if code in STOP_SIGNALS else OTHER_STOP

    def optimizer_step(self) -> None:
        self.optim.step()
        config = self.scheduler_config
        # self.step counts the steps before this one (the loop adds it once the step is done).
        if (config is not None and config.interval == "step"
                and (self.step + 1) % config.frequency == 0):
            config.scheduler.step()

    def training_pass_ended(self) -> None:
        """Step an ``"interval": "epoch"`` scheduler at the end of every ``frequency``-th
        epoch's training steps, before its validation."""
        config = self.scheduler_config
        if (config is not None and config.interval == "epoch"
                and (self.epoch + 1) % config.frequency == 0):
            config.scheduler.step()

    def scheduler_steps_taken(self) -> int:
        """How many times the run has stepped its scheduler so far (at a step boundary): once
        per ``frequency`` optimizer steps, or per ``frequency`` epochs whose training ended."""
        config = self.scheduler_config
        if config is None:
            return 0
        done = self.step if config.interval == "step" else len(self.history)
        return done // config.frequency

    def eval_step(self, batch: tuple[Any, ...]) -> tuple[Any, Any]:
        self.model.eval()
        self.begin_compiled_step()
        compiled = self.takes_compiled_step(batch, train=False)
        with torch.no_grad():
            sums = self.kept((self.validation_outputs if compiled else self.eager_validation)(
                batch[0], batch[1]))
        if self.num_replicas > 1:
            sums = torch.stack(sums)
            dist.all_reduce(sums)
        return sums

    def learning_rate(self) -> float:
        """The rate the next step applies (the scheduler has set it on the optimizer)."""
        return float(self.optim.param_groups[0]["lr"])

    def host_array(self, value: Any) -> np.ndarray:
        return to_numpy(value)  # a loader's tensors may be on a GPU, or need a detach

    def close(self, failed: bool = False) -> None:
        """Leave the process group this trainer joined (torchrun's processes then exit).

        After a run that went well, every rank first waits for the others: a rank that tore
        down its Gloo connections while a peer was still finishing was seen to abort the peer
        ("terminate called without an active exception"). After a failure, no waiting: the
        others may never arrive."""
        if self.num_replicas > 1 and dist.is_initialized():
            if not failed:
                if self.pending_vote is not None:  # the last boundary's, cast by every process
                    self.pending_vote[1].wait()
                dist.barrier()
            self.pending_vote = self.vote_group = None
            dist.destroy_process_group()

    def pass_iterator(self, loader: Iterable[Any], resumed: bool) -> Iterator[Any]:
        # A DataLoader draws its workers' base seed from the global RNG as each pass begins,
        # shuffled or not: the checkpoint's RNG state was saved after that draw, so a resumed
        # pass must not make it again (dropout would follow another stream).
        if not resumed:
            return iter(loader)
        state = torch.get_rng_state()
        iterator = iter(loader)
        torch.set_rng_state(state)
        return iterator

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Parameters, the model's buffers (BatchNorm's running statistics) and the tensors its
        modules keep as attributes (the book's from-scratch BatchNorm's; AlexNet has neither),
        SGD's per-parameter state (none without momentum) and the RNG dropout draws from (the
        CPU generator, and the GPU's when training on one: with several processes, the stream
        they share, the same in each at a step boundary, :meth:`own_random_stream`). Arrays
        may share memory with the tensors: use them before the next step."""
        arrays = {f"params.{name}": to_numpy(tensor)
                  for name, tensor in self.model.named_parameters()}
        arrays.update((f"buffers.{name}", to_numpy(tensor))
                      for name, tensor in persistent_buffers(self.model))
        arrays.update((key, to_numpy(getattr(module, name)))
                      for key, module, name in tensor_attributes(self.model))
        for index, slots in self.optim.state_dict()["state"].items():
            for key, value in slots.items():
                if torch.is_tensor(value):
                    arrays[f"optimizer.{index}.{key}"] = to_numpy(value)
        arrays["rng.torch_cpu"] = torch.get_rng_state().numpy()
        if self.device.type == "cuda":
            arrays["rng.torch_cuda"] = torch.cuda.get_rng_state(self.device).numpy()
        return arrays

    def restore(self, checkpoint: Checkpoint) -> None:
        """The core's restore, then the scheduler brought to the checkpoint's position."""
        super().restore(checkpoint)
        self.replay_schedule(self.scheduler_steps_taken())

    def replay_schedule(self, steps: int) -> None:
        """Step the scheduler ``configure_optimizers`` has just made ``steps`` times, as the
        checkpoint's run stepped it: nothing is rebuilt, so any scheduler whose rates follow
        from its steps alone (not ``ReduceLROnPlateau``, refused) is where that run had it, bit
        for bit, the rate it set on the optimizer included. (It had rebuilt every scheduler as
        a ``LambdaLR``, our AlexNet's, and failed on any other.) No optimizer step comes
        between them, which PyTorch warns of at a scheduler's first step: that warning is
        silenced here, and only here."""
        if self.scheduler_config is None or steps == 0:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, message=(
                r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`"))
            for _ in range(steps):
                self.scheduler_config.scheduler.step()

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, tensor in self.model.named_parameters():
                tensor.copy_(torch.from_numpy(np.array(arrays[f"params.{name}"])))
            # In place, so device and dtype stay, and an optimizer given such a tensor (the
            # book's from-scratch models train tensor attributes) still holds the one it steps.
            for name, tensor in persistent_buffers(self.model):
                tensor.copy_(torch.from_numpy(np.array(arrays[f"buffers.{name}"])))
            for key, module, name in tensor_attributes(self.model):
                getattr(module, name).copy_(torch.from_numpy(np.array(arrays[key])))
        slots: dict[int, dict[str, torch.Tensor]] = {}  # parameter index -> its optimizer state
        for name, array in arrays.items():
            if name.startswith("optimizer."):
                _, index, key = name.split(".", 2)
                slots.setdefault(int(index), {})[key] = torch.from_numpy(np.array(array))
        if slots:
            # param_groups (the learning rate) stay this run's: --lr may change on resume.
            self.optim.load_state_dict({"state": slots,
                                        "param_groups": self.optim.state_dict()["param_groups"]})
        if "rng.torch_cpu" in arrays:
            torch.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch_cpu"])))
        if "rng.torch_cuda" in arrays and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch_cuda"])),
                                     self.device)


#: The signals a stop vote names (``stop_code``); the largest number wins the vote.
STOP_SIGNALS = {getattr(signal, name).value for name in ("SIGHUP", "SIGINT", "SIGTERM")
                if hasattr(signal, name)}
#: A stop requested in another process for a reason other than a signal (Python code's own).
OTHER_STOP = "a stop requested in another process"


def stop_code(reason: str | None) -> int:
    """A process's stop vote: 0 to go on, the signal's number for SIGINT, SIGTERM or SIGHUP, 1
    for a stop of another kind (``trainer.stop_requested`` set by code)."""
    if reason is None:
        return 0
    number = signal.Signals.__members__.get(reason) if isinstance(reason, str) else None
    return number.value if number is not None and number.value in STOP_SIGNALS else 1


def persistent_buffers(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` of every buffer of ``model`` that its ``state_dict`` holds (BatchNorm's
    running mean, variance and batch count): state its forward updates, which a resumed run
    needs. Buffers registered with ``persistent=False`` (constants) are left out, as PyTorch's
    own ``state_dict`` leaves them."""
    for module_name, module in model.named_modules():
        for name, tensor in module.named_buffers(recurse=False):
            if name not in module._non_persistent_buffers_set:
                yield (f"{module_name}.{name}" if module_name else name), tensor


def tensor_attributes(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """``(checkpoint key, module, attribute name)`` of every tensor a module of ``model`` keeps
    as a plain attribute, neither parameter nor buffer: state its forward replaces, such as the
    moving mean and variance of the book's from-scratch ``BatchNorm`` (d2l, sec_batch_norm),
    which ``state_dict`` and ``model.to`` never see. Keys: ``state.<module path>.<name>``."""
    return [(f"state.{path}.{name}" if path else f"state.{name}", module, name)
            for path, module in model.named_modules()
            for name, value in vars(module).items() if torch.is_tensor(value)]


def moving_statistics(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, name)`` of the floating-point state a forward pass updates from its batch:
    BatchNorm's running mean and variance (buffers) and the tensors a module keeps as
    attributes (the book's from-scratch BatchNorm's moving mean and variance)."""
    running = [(module, name) for module in model.modules()
               if isinstance(module, nn.modules.batchnorm._NormBase)
               for name in ("running_mean", "running_var")
               if torch.is_tensor(getattr(module, name, None))]
    return running + [(module, name) for _, module, name in tensor_attributes(model)
                      if getattr(module, name).is_floating_point()]


class OptimizerConfigError(D2LAlexNetError, ValueError):
    """What a model's ``configure_optimizers()`` returned cannot be trained here; the message
    says what to return instead."""


#: The keys of Lightning's ``lr_scheduler`` config. ``name`` (a logger's), ``monitor`` and
#: ``strict`` (a ReduceLROnPlateau's metric, refused) change nothing here.
SCHEDULER_CONFIG_KEYS = ("scheduler", "interval", "frequency", "name", "monitor", "strict",
                         "reduce_on_plateau")
SCHEDULER_INTERVALS = ("epoch", "step")


@dataclass(frozen=True)
class SchedulerConfig:
    """A learning-rate scheduler and when the Trainer steps it, as Lightning's ``lr_scheduler``
    config says: every ``frequency`` epochs (``interval="epoch"``, Lightning's default) or
    every ``frequency`` optimizer steps (``"step"``)."""

    scheduler: Any
    interval: str = "epoch"
    frequency: int = 1


def optimizer_and_scheduler(configured: Any) -> tuple[Any, SchedulerConfig | None]:
    """``configure_optimizers()``'s result as ``(optimizer, SchedulerConfig or None)``, in the
    forms Lightning's ``LightningModule.configure_optimizers`` takes for one optimizer:

    - an optimizer (the book's models), or a list or tuple of one;
    - ``{"optimizer": optimizer, "lr_scheduler": scheduler}``, the scheduler bare or as
      Lightning's config ``{"scheduler": scheduler, "interval": "epoch", "frequency": 1}``,
      whose ``interval`` (``"epoch"`` or ``"step"``) and ``frequency`` default, as Lightning's
      do, to ``"epoch"`` and 1;
    - ``([optimizer], [scheduler])``, the scheduler bare or as a config.

    The Trainer steps an ``"epoch"`` scheduler at the end of every ``frequency``-th epoch's
    training steps, before its validation (so an epoch's record holds the rate the next epoch
    starts at), and a ``"step"`` scheduler after every ``frequency``-th optimizer step of the
    run (Lightning counts a step's batch within its epoch: the same where an epoch's steps are
    a multiple of ``frequency``). A resumed run steps it again to where the checkpoint's run
    had it. Refused in one line (:class:`OptimizerConfigError`): several optimizers or
    schedulers, a config without ``scheduler`` or with a key Lightning does not know, another
    interval, a frequency below 1, a ``ReduceLROnPlateau`` (it steps on a monitored metric),
    something without a ``step`` method as the scheduler, a scheduler of another optimizer.
    """
    schedulers: Any = ()
    if isinstance(configured, (list, tuple)):
        if len(configured) == 2 and all(isinstance(part, (list, tuple)) for part in configured):
            configured, schedulers = configured
        configured = only_one(configured, "optimizers")
        if isinstance(configured, Mapping) and schedulers:
            raise OptimizerConfigError("configure_optimizers() returned a dict in a list beside "
                                       "schedulers: return the dict alone, its scheduler under "
                                       "\"lr_scheduler\"")
    scheduler = only_one(schedulers, "schedulers") if schedulers else None
    optimizer = configured
    if isinstance(configured, Mapping):
        unknown = sorted(map(str, set(configured) - {"optimizer", "lr_scheduler", "monitor"}))
        if "optimizer" not in configured or unknown:
            raise OptimizerConfigError(
                f"configure_optimizers() returned a dict with the keys "
                f"{', '.join(map(repr, configured))}: Lightning's are \"optimizer\" (needed) "
                f"and \"lr_scheduler\"")
        optimizer, scheduler = configured["optimizer"], configured.get("lr_scheduler")
    return optimizer, None if scheduler is None else scheduler_config(scheduler, optimizer)


def only_one(items: Any, what: str) -> Any:
    """The one optimizer (or scheduler, ``what``) of a Lightning list, refused otherwise."""
    if len(items) == 1:
        return items[0]
    fix = ("return one optimizer, with a parameter group for each part that trains otherwise "
           "(Lightning's several optimizers need its manual optimization, which this Trainer "
           "does not do)" if what == "optimizers" else
           "chain them into one (torch.optim.lr_scheduler.ChainedScheduler or SequentialLR)")
    raise OptimizerConfigError(f"configure_optimizers() returned {len(items)} {what}, and this "
                               f"Trainer steps one: {fix}")


def scheduler_config(scheduler: Any, optimizer: Any) -> SchedulerConfig:
    """The ``lr_scheduler`` that ``configure_optimizers()`` returned with ``optimizer``, a
    scheduler or Lightning's config of one, as a checked :class:`SchedulerConfig`."""
    settings: dict[str, Any] = {}
    plateau = False
    if isinstance(scheduler, Mapping):
        unknown = sorted(map(str, set(scheduler) - set(SCHEDULER_CONFIG_KEYS)))
        if "scheduler" not in scheduler or unknown:
            raise OptimizerConfigError(
                f"the lr_scheduler config has the keys {', '.join(map(repr, scheduler))}: "
                f"Lightning's are {', '.join(map(repr, SCHEDULER_CONFIG_KEYS))}, "
                f"\"scheduler\" needed")
        settings = {key: scheduler[key] for key in ("interval", "frequency") if key in scheduler}
        plateau = bool(scheduler.get("reduce_on_plateau", False))
        scheduler = scheduler["scheduler"]
    config = SchedulerConfig(scheduler, **settings)
    if config.interval not in SCHEDULER_INTERVALS:
        raise OptimizerConfigError(f"the lr_scheduler's interval must be \"epoch\" (Lightning's "
                                   f"default) or \"step\", got {config.interval!r}")
    if (not isinstance(config.frequency, int) or isinstance(config.frequency, bool)
            or config.frequency < 1):
        raise OptimizerConfigError(f"the lr_scheduler's frequency must be a whole number of "
                                   f"{config.interval}s, 1 or more, got {config.frequency!r}")
    if plateau or isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise OptimizerConfigError(
            "ReduceLROnPlateau is not supported: it steps on a monitored metric, which this "
            "Trainer does not give schedulers; lower the rate at set epochs instead (StepLR, "
            "MultiStepLR), or end a run that stops improving with EarlyStopping "
            "(d2l_alexnet.core.callbacks)")
    if not callable(getattr(scheduler, "step", None)):
        raise OptimizerConfigError(f"the lr_scheduler is a {type(scheduler).__name__}: return a "
                                   f"torch.optim.lr_scheduler scheduler, or Lightning's config "
                                   f"{{\"scheduler\": scheduler, \"interval\": \"epoch\"}}")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise OptimizerConfigError("the lr_scheduler was made for another optimizer than the one "
                                   "configure_optimizers() returned: make it with that one")
    return config
