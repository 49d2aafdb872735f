"""Where a PyTorch training step of the chapter's AlexNet spends its time, layer by layer.

``python benchmarks/profile_torch.py --precision bf16`` times ``--steps`` training steps (batch
128, 224×224, synthetic data, the Trainer's own step, channels-last and autocast included) after
a warm-up, then profiles as many with ``torch.profiler`` and prints, for each weighted layer,
its forward and backward milliseconds per step and the GFLOP/s they reach against the same
process's 2048×2048 matmul peak; then the operators that cost the most by their own time.
``--json FILE`` also writes the table.

Forward: the layer's module call (autocast's weight cast included). Backward: a dense layer's
autograd range (its two matrix products, the bias sum and the casts); a convolution's
``convolution_backward`` kernel, found by its weight's shape, since conv1's input needs no
gradient and so no backward hook fires around its weight gradient.
"""

import argparse
import json
import time
from collections import defaultdict

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from d2l_alexnet import torch as d2l
from d2l_alexnet.core.architecture import CHAPTER_RESIZE, layer_table
from d2l_alexnet.core.images import ArrayData
from d2l_alexnet.torch.bench import matmul_benchmark

NUM_CLASSES = 10


def weighted_layers(model, resize):
    """``(name, module, table row)`` for the weighted layers in order: conv1..conv5 and
    dense1..dense3, with the architecture table's FLOPs for a ``resize``×``resize`` input."""
    modules = [module for module in model.net
               if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))]
    rows = [row for row in layer_table(resize, NUM_CLASSES)
            if row.layer.kind in ("conv", "dense")]
    counts, layers = defaultdict(int), []
    for module, row in zip(modules, rows):
        counts[row.layer.kind] += 1
        layers.append((f"{row.layer.kind}{counts[row.layer.kind]}", module, row))
    return layers


def open_ranges(layers):
    """A ``record_function`` range around every layer's forward, and around each dense layer's
    backward, so that the profile can attribute their kernels."""
    def enter(module, key, label):
        setattr(module, key, record_function(label))
        getattr(module, key).__enter__()

    for name, module, _ in layers:
        module.register_forward_pre_hook(
            lambda module, args, name=name: enter(module, "_forward_range", f"forward {name}"))
        module.register_forward_hook(
            lambda module, args, output: module._forward_range.__exit__(None, None, None))
        if isinstance(module, torch.nn.Linear):
            module.register_full_backward_pre_hook(
                lambda module, grad, name=name: enter(module, "_backward_range",
                                                      f"backward {name}"))
            module.register_full_backward_hook(
                lambda module, grad_in, grad_out: module._backward_range.__exit__(None, None,
                                                                                   None))


def layer_times(events, layers, steps):
    """``{name: (forward ms, backward ms)}`` per step, from ``key_averages`` grouped by input
    shape."""
    totals = defaultdict(float)
    for event in events:
        totals[event.key] += event.cpu_time_total
    by_weight_shape = defaultdict(float)
    for event in events:
        if event.key == "aten::convolution_backward" and len(event.input_shapes) > 2:
            by_weight_shape[tuple(event.input_shapes[2])] += event.cpu_time_total
    times = {}
    for name, module, _ in layers:
        forward = totals[f"forward {name}"]
        backward = (totals[f"backward {name}"] if isinstance(module, torch.nn.Linear)
                    else by_weight_shape[tuple(module.weight.shape)])
        times[name] = (forward / 1e3 / steps, backward / 1e3 / steps)
    return times


def matmul_peak_gflops(precision, device):
    matmul, flops = matmul_benchmark(precision, device)
    for _ in range(3):
        matmul()
    fastest = float("inf")
    for _ in range(10):
        started = time.perf_counter()
        matmul()
        fastest = min(fastest, time.perf_counter() - started)
    return flops / fastest / 1e9


def profile_step(precision="bf16", batch_size=128, resize=CHAPTER_RESIZE, steps=5, warmup=3):
    """Time and profile the training step; returns the JSON-ready table."""
    d2l.set_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch_size, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, size=batch_size).astype(np.int64)
    model = d2l.AlexNet(lr=0.01, num_classes=NUM_CLASSES, resize=resize)
    trainer = d2l.Trainer(max_epochs=1, precision=precision, progress=False, log=None)
    trainer.setup(model, ArrayData((images, labels), (images, labels), batch_size,
                                   resize=resize))
    batch = trainer.prepare_batch(images, labels)
    peak = matmul_peak_gflops(precision, trainer.device)

    for _ in range(warmup):
        float(trainer.train_step(batch))
    started = time.perf_counter()
    for _ in range(steps):
        float(trainer.train_step(batch))
    step_ms = (time.perf_counter() - started) / steps * 1e3

    layers = weighted_layers(model, resize)
    open_ranges(layers)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            float(trainer.train_step(batch))
    events = prof.key_averages(group_by_input_shape=True)

    rows = []
    for name, _, row in layers:
        forward_ms, backward_ms = layer_times(events, layers, steps)[name]
        forward_flops = row.forward_flops * batch_size
        # conv1's input needs no gradient: its backward is the weight gradient alone, as
        # costly as its forward; every other layer's is twice its forward.
        backward_flops = (1 if name == "conv1" else 2) * forward_flops
        rows.append({"layer": name, "forward_ms": forward_ms, "backward_ms": backward_ms,
                     "forward_of_peak": forward_flops / (forward_ms * 1e6) / peak,
                     "backward_of_peak": backward_flops / (backward_ms * 1e6) / peak})
    own = defaultdict(float)
    for event in events:
        if not event.key.startswith(("forward ", "backward ")):
            own[event.key] += event.self_cpu_time_total / 1e3 / steps
    operators = dict(sorted(own.items(), key=lambda item: -item[1])[:12])
    return {"precision": precision, "batch_size": batch_size, "resize": resize,
            "step_ms": step_ms, "step_images_per_sec": batch_size / step_ms * 1e3,
            "matmul_peak_gflops": peak, "layers": rows, "operators_self_ms": operators}


def format_table(result):
    lines = [f"{result['precision']}, batch {result['batch_size']}, "
             f"{result['resize']}×{result['resize']}: step {result['step_ms']:.0f} ms "
             f"({result['step_images_per_sec']:.1f} img/s), matmul peak "
             f"{result['matmul_peak_gflops']:.0f} GFLOP/s",
             f"{'layer':8} {'fwd ms':>8} {'bwd ms':>8} {'fwd/peak':>9} {'bwd/peak':>9}"]
    for row in result["layers"]:
        lines.append(f"{row['layer']:8} {row['forward_ms']:8.1f} {row['backward_ms']:8.1f} "
                     f"{row['forward_of_peak']:9.2f} {row['backward_of_peak']:9.2f}")
    layer_ms = sum(row["forward_ms"] + row["backward_ms"] for row in result["layers"])
    lines.append(f"weighted layers: {layer_ms:.0f} ms (profiled) of a {result['step_ms']:.0f} "
                 "ms step (timed without the profiler)")
    lines.append("operators by their own time, ms per step:")
    lines += [f"  {ms:8.1f}  {name}" for name, ms in result["operators_self_ms"].items()]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--resize", type=int, default=CHAPTER_RESIZE)
    parser.add_argument("--steps", type=int, default=5, help="timed, then profiled, steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the table here")
    args = parser.parse_args(argv)
    result = profile_step(args.precision, args.batch_size, args.resize, args.steps,
                          args.warmup)
    print(format_table(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
