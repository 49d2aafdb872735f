"""``python -m d2l_alexnet.bench``: how fast each backend trains AlexNet here (d2l, sec_alexnet,
exercise 6: throughput, accuracy and memory against the batch size).

One run measures, for one backend, batch size, precision and device:
- this machine's matrix-multiply peak in that precision (the backend's own matmul);
- training-step throughput at 224×224 on synthetic data, after warm-up;
- end-to-end training throughput on real Fashion-MNIST (loading, resize, metrics included);
- inference throughput and peak memory;
- the achieved training FLOP/s as a fraction of the matmul peak, with the FLOPs per image taken
  from the architecture table.
``--batch-sizes`` sweeps, each size in its own process (so peak memory is that size's own), and
draws throughput and memory against batch size.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from .backends import BACKENDS, BackendError, canonical_name, load_backend
from .core.architecture import CHAPTER_RESIZE, minimum_resize, training_flops
from .core.files import atomic_write_bytes, atomic_write_json
from .core.images import ArrayData
from .core.progress import figure_png
from .core.trainer import DEVICES, PRECISIONS

NUM_CLASSES = 10


def time_calls(function, repeats, warmup):
    """Seconds per call of ``function`` (which must block until its work is done)."""
    for _ in range(warmup):
        function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def fastest_call(function, repeats, warmup):
    """Seconds of the fastest of ``repeats`` calls: a peak is the best the machine did, and
    other processes' noise only ever slows a call down."""
    for _ in range(warmup):
        function()
    fastest = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def host_peak_memory_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(backend_name, batch_size=128, steps=10, precision="fp32", device="auto",
            resize=CHAPTER_RESIZE, warmup=3, end_to_end=True, seed=0, log=print):
    """Run every measurement for one configuration; returns a JSON-ready dict."""
    d2l = load_backend(backend_name)
    d2l.set_seed(seed)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(batch_size, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, size=batch_size).astype(np.int64)
    synthetic = ArrayData((images, labels), (images, labels), batch_size, resize=resize)
    model = d2l.AlexNet(lr=0.01, num_classes=NUM_CLASSES, resize=resize)
    trainer = d2l.Trainer(max_epochs=1, device=device, precision=precision, progress=False,
                          log=None).setup(model, synthetic)
    batch = trainer.prepare_batch(images, labels)

    log(f"{backend_name}: measuring the {precision} matmul peak on {trainer.device_name()}")
    matmul, matmul_flops = d2l.matmul_benchmark(precision, trainer.device)
    gemm_peak_gflops = matmul_flops / fastest_call(matmul, repeats=10, warmup=3) / 1e9

    log(f"{backend_name}: {steps} training steps of {batch_size} after {warmup} warm-up steps")
    step_seconds = time_calls(lambda: trainer.to_float(trainer.train_step(batch)), steps, warmup)
    step_images_per_sec = batch_size / step_seconds
    inference_seconds = time_calls(lambda: trainer.to_float(trainer.eval_step(batch)[0]),
                                   steps, warmup)
    result = {
        "backend": backend_name, "device": trainer.device_name(), "precision": precision,
        "batch_size": batch_size, "resize": resize, "steps": steps,
        "gemm_peak_gflops": gemm_peak_gflops,
        "step_images_per_sec": step_images_per_sec,
        "inference_images_per_sec": batch_size / inference_seconds,
        "training_gflop_per_image": training_flops(resize, NUM_CLASSES) / 1e9,
    }
    achieved = step_images_per_sec * training_flops(resize, NUM_CLASSES) / 1e9
    result["achieved_gflops"] = achieved
    result["peak_of_gemm_ratio"] = achieved / gemm_peak_gflops

    if end_to_end:
        # Two epochs over steps×batch real images; the second is timed, so one-off compilation
        # in the first does not count against the input pipeline.
        log(f"{backend_name}: end to end on real Fashion-MNIST")
        data = d2l.FashionMNIST(batch_size=batch_size, resize=(resize, resize), seed=seed,
                                limit_train=steps * batch_size, limit_val=batch_size, log=None)
        fit_trainer = d2l.Trainer(max_epochs=2, device=device, precision=precision,
                                  progress=False, log=None)
        history = fit_trainer.fit(model, data)
        result["end_to_end_images_per_sec"] = history[-1]["images_per_sec"]
        result["end_to_end_of_step_ratio"] = (result["end_to_end_images_per_sec"]
                                              / step_images_per_sec)
    device_peak = d2l.peak_memory_bytes(trainer.device)
    result["peak_memory_bytes"] = device_peak if device_peak is not None else \
        host_peak_memory_bytes()
    result["peak_memory_kind"] = "device" if device_peak is not None else "host max RSS"
    return result


ROWS = [("gemm_peak_gflops", "matmul peak", "GFLOP/s", "{:,.0f}"),
        ("step_images_per_sec", "training step", "img/s", "{:,.1f}"),
        ("end_to_end_images_per_sec", "end to end", "img/s", "{:,.1f}"),
        ("inference_images_per_sec", "inference", "img/s", "{:,.1f}"),
        ("achieved_gflops", "achieved", "GFLOP/s", "{:,.0f}"),
        ("peak_of_gemm_ratio", "of matmul peak", "", "{:.2f}"),
        ("end_to_end_of_step_ratio", "end to end / step", "", "{:.2f}"),
        ("peak_memory_bytes", "peak memory", "MiB", None)]


def format_result(result):
    lines = [f"AlexNet {result['backend']} on {result['device']}, {result['precision']}, "
             f"batch {result['batch_size']}, {result['resize']}×{result['resize']}"]
    for key, label, unit, pattern in ROWS:
        if key not in result:
            continue
        value = result[key]
        text = f"{value / 2**20:,.0f}" if pattern is None else pattern.format(value)
        if key == "peak_memory_bytes":
            unit = f"MiB, {result['peak_memory_kind']}"
        lines.append(f"  {label:<20} {text:>12} {unit}")
    return "\n".join(lines)


def sweep(args):
    """Each batch size in a fresh process; returns the list of results."""
    results = []
    for batch_size in args.batch_sizes:
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "result.json")
            command = [sys.executable, "-m", "d2l_alexnet.bench", "--backend", args.backend,
                       "--batch-size", str(batch_size), "--steps", str(args.steps),
                       "--precision", args.precision, "--device", args.device,
                       "--resize", str(args.resize), "--json", path, "--no-end-to-end"]
            completed = subprocess.run(command)
            if completed.returncode != 0:
                raise SystemExit(completed.returncode)
            with open(path) as handle:
                results.append(json.load(handle))
    return results


def plot_sweep(results, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(figure)
    sizes = [result["batch_size"] for result in results]
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    left.plot(sizes, [r["step_images_per_sec"] for r in results], "o-", label="training step")
    left.plot(sizes, [r["inference_images_per_sec"] for r in results], "s--", label="inference")
    left.legend()
    right.plot(sizes, [r["peak_memory_bytes"] / 2**20 for r in results], "o-")
    left.set(ylabel="images/s")
    right.set(ylabel="peak memory (MiB)")
    for axes in (left, right):
        axes.set(xscale="log", xlabel="batch size")
        axes.set_xticks(sizes, [str(size) for size in sizes])
        axes.minorticks_off()  # the log axis' own labels (2×10¹...) would print over ours
    first = results[0]
    figure.suptitle(f"AlexNet {first['backend']}, {first['precision']}, {first['device']}")
    figure.tight_layout()
    atomic_write_bytes(path, figure_png(figure))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m d2l_alexnet.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="pytorch", help=", ".join(BACKENDS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--resize", type=int, default=CHAPTER_RESIZE)
    parser.add_argument("--batch-sizes", type=int, nargs="+", metavar="B",
                        help="sweep these batch sizes (each in its own process)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--plot", metavar="FILE", help="with --batch-sizes: the PNG (default: "
                        "bench-<backend>-<precision>.png)")
    parser.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                        help="skip the real-data measurement")
    args = parser.parse_args(argv)

    def fail(message):
        print(f"error: {message}", file=sys.stderr)
        return 2

    sizes = [args.batch_size, args.steps] + list(args.batch_sizes or [])
    if min(sizes) < 1 or args.warmup < 0:
        return fail("--batch-size, --steps and --batch-sizes must be at least 1")
    if args.resize < minimum_resize():
        return fail(f"--resize must be at least {minimum_resize()} for AlexNet")
    try:
        args.backend = canonical_name(args.backend)
        backend = load_backend(args.backend)
    except BackendError as error:
        return fail(str(error))
    if args.precision not in backend.PRECISIONS:
        return fail(f"--precision {args.precision} is not supported by the {args.backend} "
                    f"backend: use {' or '.join(backend.PRECISIONS)}")

    if args.batch_sizes:
        results = sweep(args)
        plot_path = args.plot or f"bench-{args.backend}-{args.precision}.png"
        plot_sweep(results, plot_path)
        for result in results:
            print(format_result(result))
        print(f"wrote {plot_path}")
        output = results
    else:
        try:
            output = measure(args.backend, args.batch_size, args.steps, args.precision,
                             args.device, args.resize, args.warmup, args.end_to_end,
                             log=lambda message: print(message, file=sys.stderr))
        except RuntimeError as error:
            if "GPU" in str(error):
                return fail(str(error))
            raise
        print(format_result(output))
    if args.json:
        atomic_write_json(args.json, output)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
