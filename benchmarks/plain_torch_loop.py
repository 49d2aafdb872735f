"""What the card can do with the chapter's AlexNet: a plain PyTorch training loop, written the
way an expert would write it, with no library around it. BENCHMARKS.md ("GPU") sets our
Trainer's figures beside this one's, measured in the same pass.

Fashion-MNIST's uint8 images go to the device once. Each step gathers a batch there by a
shuffled index, scales and resizes it to ``--size`` (bilinear, as the chapter's loader does),
and runs forward, loss, backward and the SGD update (lr 0.01), channels-last, under bf16
autocast with ``--precision bf16``, the whole step compiled by ``torch.compile`` unless
``--compile none``. The network is the chapter's, written out here on purpose: nothing of
``d2l_alexnet`` is imported.

``python benchmarks/plain_torch_loop.py --data-dir /usr/share/datasets/fashion-mnist
--precision bf16 --json OUT.json`` prints and saves the training images per second over
``--steps`` steps after ``--warmup`` (compilation included in the warm-up, and its seconds
reported). Without ``--data-dir`` the images are random: the speed does not depend on them.
"""

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"


def chapter_alexnet(size, num_classes=10):
    """The chapter's single-tower AlexNet for 1-channel ``size``×``size`` images (the first
    convolution unpadded, as ours and the book's MXNet and TensorFlow code have it: at 224 it
    gives the same 54×54 maps as the book's PyTorch code's padding of 1)."""
    features = nn.Sequential(
        nn.Conv2d(1, 96, kernel_size=11, stride=4), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten())
    with torch.no_grad():
        flat = features(torch.zeros(1, 1, size, size)).shape[1]
    return nn.Sequential(
        features,
        nn.Linear(flat, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, num_classes))


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        raw = file.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def training_set(data_dir, examples, seed):
    """Fashion-MNIST's training images and labels from ``data_dir``, or random ones."""
    if data_dir is None:
        rng = np.random.default_rng(seed)
        return (rng.integers(0, 256, (examples, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, examples).astype(np.int64))
    found = {}
    for name in (TRAIN_IMAGES, TRAIN_LABELS):
        candidates = [Path(data_dir) / f"{name}{suffix}" for suffix in ("", ".gz")]
        path = next((candidate for candidate in candidates if candidate.exists()), None)
        if path is None:
            sys.exit(f"{data_dir} has no {name}[.gz]: name Fashion-MNIST's folder")
        found[name] = read_idx(path)
    return found[TRAIN_IMAGES][:examples], found[TRAIN_LABELS][:examples].astype(np.int64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST's IDX files")
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--compile", default="auto", metavar="MODE",
                        help="torch.compile's mode; auto: reduce-overhead (CUDA graphs) on a "
                             "GPU and the default mode on the CPU; none: eager")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if args.batch_size > args.examples:
        parser.error(f"--batch-size {args.batch_size} is more than the {args.examples} examples")

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    torch.manual_seed(args.seed)
    images, labels = training_set(args.data_dir, args.examples, args.seed)
    images = torch.from_numpy(np.array(images)).to(device)  # once, as uint8 (a writable copy)
    labels = torch.from_numpy(labels).to(device)
    net = chapter_alexnet(args.size).to(device, memory_format=torch.channels_last)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    bf16 = args.precision == "bf16"

    def train_step(batch_indices):
        X = images[batch_indices].unsqueeze(1).float().div(255.0)
        X = F.interpolate(X, size=(args.size, args.size), mode="bilinear",
                          align_corners=False).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(X), labels[batch_indices])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    mode = args.compile
    if mode == "auto":
        mode = "reduce-overhead" if device.type == "cuda" else "default"
    step = train_step if mode == "none" else torch.compile(train_step, mode=mode)
    per_epoch = args.examples // args.batch_size  # full batches only: one shape to compile
    order = torch.randperm(args.examples, device=device)

    def batch(index):
        nonlocal order
        position = index % per_epoch
        if position == 0 and index:
            order = torch.randperm(args.examples, device=device)
        return order[position * args.batch_size:(position + 1) * args.batch_size]

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    net.train()
    started = time.perf_counter()
    first_loss = float(step(batch(0)))
    first_step_seconds = time.perf_counter() - started
    for index in range(1, args.warmup):
        step(batch(index))
    synchronize()
    started = time.perf_counter()
    for index in range(args.warmup, args.warmup + args.steps):
        loss = step(batch(index))
    last_loss = float(loss)  # waits for the device
    seconds = time.perf_counter() - started
    result = {
        "what": "plain PyTorch loop (benchmarks/plain_torch_loop.py)",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": args.precision, "batch_size": args.batch_size, "size": args.size,
        "compile": mode, "steps": args.steps, "warmup": args.warmup,
        "images_per_sec": args.batch_size * args.steps / seconds,
        "first_step_seconds": first_step_seconds,
        "first_loss": first_loss, "last_loss": last_loss,
        "parameters": sum(parameter.numel() for parameter in net.parameters()),
        "data": args.data_dir or "random", "torch": torch.__version__,
        "command": " ".join(["python", "benchmarks/plain_torch_loop.py",
                             *(argv if argv is not None else sys.argv[1:])]),
    }
    print(f"plain loop, {result['device']}, {args.precision}, batch {args.batch_size}, "
          f"compile {mode}: {result['images_per_sec']:,.0f} img/s over {args.steps} steps "
          f"(first step {first_step_seconds:.1f} s; loss {first_loss:.3f} -> {last_loss:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
