#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md ("GPU"), in one short pass on a machine with a CUDA GPU and
# the frameworks already installed: `bash benchmarks/gpu_checks.sh OUT_DIR [DATA_DIR]`.
# Each step has its own time limit and a failed step does not stop the next, so that one pass
# brings back everything that worked; OUT_DIR/summary.txt lists each step's exit status. With
# ARCHIVE=FILE.tar.gz, OUT_DIR (weights left out) is packed into FILE after every step, so that
# a pass stopped from outside still leaves the steps it finished.
# The cpu2-* steps profile the PyTorch CPU step on two of the host's cores, with the GPU hidden
# (BENCHMARKS.md, "PyTorch's training step, layer by layer", for a host with AMX); cpu2-onednn
# logs which oneDNN kernels a bf16 matmul and convolution take there. The whole pass took
# about 6.5 minutes on an H200 host.
set -u
out=${1:?usage: gpu_checks.sh OUT_DIR [DATA_DIR]}
export D2L_ALEXNET_DATA=${2:-${D2L_ALEXNET_DATA:-}}
[ -n "$D2L_ALEXNET_DATA" ] || unset D2L_ALEXNET_DATA
export PYTHONUNBUFFERED=1
# The library from this checkout, for benchmarks/profile_torch.py too.
export PYTHONPATH=$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"

step() {  # step NAME SECONDS COMMAND...: its output in OUT/NAME.log, its status in summary.txt
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local status=$?
    echo "$name rc=$status $((SECONDS - start))s (${SECONDS}s in all)" | tee -a "$summary"
    [ -z "${ARCHIVE:-}" ] || tar czf "$ARCHIVE" --exclude='*.safetensors' -C "$out" .
}

{  # the GPU and the CUDA build here; the CPU and versions as every result JSON records them
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    $PY -c "import torch; print('torch built for CUDA', torch.version.cuda)"
    $PY -c "import json; from d2l_alexnet.bench import machine, versions
print(json.dumps({'machine': machine(), 'versions': {**versions('pytorch'), **versions('jax')}}))"
} >"$out/machine.txt" 2>&1

bench="$PY -m d2l_alexnet.bench --device gpu"
step pytorch-fp32 50 $bench --backend pytorch --precision fp32 --steps 50 --warmup 10 \
    --json "$out/gpu-pytorch-fp32.json"
step pytorch-bf16 50 $bench --backend pytorch --precision bf16 --steps 50 --warmup 10 \
    --json "$out/gpu-pytorch-bf16.json"
step pytorch-bf16-sweep 90 $bench --backend pytorch --precision bf16 --steps 30 --warmup 5 \
    --no-end-to-end --batch-sizes 128 256 512 1024 --plot "$out/gpu-pytorch-bf16-sweep.png" \
    --json "$out/gpu-pytorch-bf16-sweep.json"
step tta-pytorch-bf16 110 $bench --backend pytorch --precision bf16 --time-to-accuracy 0.88 \
    --recipe fast --out "$out/tta-pytorch-bf16-fast"
step jax-bf16 90 $bench --backend jax --precision bf16 --steps 50 --warmup 10 \
    --json "$out/gpu-jax-bf16.json"
step tta-jax-bf16 90 $bench --backend jax --precision bf16 --time-to-accuracy 0.88 \
    --recipe fast --out "$out/tta-jax-bf16-fast"
cpu2="env CUDA_VISIBLE_DEVICES= OMP_NUM_THREADS=2 taskset -c 0,1"
step cpu2-onednn 30 $cpu2 env ONEDNN_VERBOSE=1 $PY -c "import torch
a = torch.randn(2048, 2048, dtype=torch.bfloat16); a @ a
x = torch.randn(8, 64, 56, 56).to(memory_format=torch.channels_last)
conv = torch.nn.Conv2d(64, 64, 3).to(memory_format=torch.channels_last)
with torch.autocast('cpu', dtype=torch.bfloat16): conv(x)"
step cpu2-profile-fp32 100 $cpu2 \
    $PY benchmarks/profile_torch.py --precision fp32 --steps 3 --json "$out/cpu2-profile-pytorch-fp32.json"
step cpu2-profile-bf16 60 $cpu2 \
    $PY benchmarks/profile_torch.py --precision bf16 --json "$out/cpu2-profile-pytorch-bf16.json"
step chapter-pytorch-fp32 150 $PY -m d2l_alexnet.train --backend pytorch --device gpu \
    --out "$out/chapter-pytorch-fp32"
step jax-fp32 60 $bench --backend jax --precision fp32 --steps 50 --warmup 10 \
    --json "$out/gpu-jax-fp32.json"
