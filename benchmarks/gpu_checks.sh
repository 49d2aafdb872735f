#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md ("GPU"), in one short pass on a machine with a CUDA GPU and
# the frameworks already installed: `bash benchmarks/gpu_checks.sh OUT_DIR [DATA_DIR]`.
# Each step has its own time limit and a failed step does not stop the next, so that one pass
# brings back everything that worked; OUT_DIR/summary.txt lists each step's exit status. With
# ARCHIVE=FILE.tar.gz, OUT_DIR (weights left out, the first layer's small kernel kept) is packed
# into FILE after every step, so that a pass stopped from outside still leaves the steps it
# finished. ONLY="step step ..." runs just those steps (a lease too short for the whole pass
# takes it in two calls); SKIP="..." leaves those out.
#
# The steps, most wanted first (issue 36 "Measured, in one pass"):
# - our PyTorch step and end to end at batch 128, bf16 and fp32, eager and --compile (the data
#   on the device, as on every GPU run), bf16 at batch 512 compiled, and once with the data
#   left on the host;
# - the plain compiled PyTorch loop (benchmarks/plain_torch_loop.py) beside them, the
#   reference for what the card can do;
# - the chapter's 10 epochs from the command's start, its first layer's filters kept for the
#   chapter's figure (results/first-layer-filters/); time to 0.88 with --recipe fast in PyTorch
#   (eager and compiled) and JAX; JAX's step and end to end;
# - the fast recipe over 10 epochs with and without --augment (issue 35).
# Estimated at 12 to 13 minutes on an H200 host, the compilations most of it: where a lease
# cannot hold that in one call, run it as two, the first with ONLY="pytorch-bf16 ...
# first-layer-filters" (the steps up to the filters), the second with SKIP= those.
set -u
out=${1:?usage: gpu_checks.sh OUT_DIR [DATA_DIR]}
export D2L_ALEXNET_DATA=${2:-${D2L_ALEXNET_DATA:-}}
[ -n "$D2L_ALEXNET_DATA" ] || unset D2L_ALEXNET_DATA
export PYTHONUNBUFFERED=1
# The library from this checkout, for the scripts of benchmarks/ too.
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"

wanted() {  # wanted NAME: whether ONLY and SKIP let the step run
    case " ${SKIP:-} " in *" $1 "*) return 1;; esac
    [ -z "${ONLY:-}" ] && return 0
    case " $ONLY " in *" $1 "*) return 0;; esac
    return 1
}

step() {  # step NAME SECONDS COMMAND...: its output in OUT/NAME.log, its status in summary.txt
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    wanted "$name" || return 0
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local status=$?
    echo "$name rc=$status $((SECONDS - start))s (${SECONDS}s in all)" | tee -a "$summary"
    [ -z "${ARCHIVE:-}" ] || tar czf "$ARCHIVE" --exclude='weights.safetensors' \
        --exclude='best.safetensors' --exclude='*.ckpt' -C "$out" .
}

{  # the GPU and the CUDA build here; the CPU and versions as every result JSON records them
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    $PY -c "import torch; print('torch built for CUDA', torch.version.cuda)"
    $PY -c "import json; from d2l_alexnet.bench import machine, versions
print(json.dumps({'machine': machine(), 'versions': {**versions('pytorch'), **versions('jax')}}))"
} >"$out/machine.txt" 2>&1

bench="$PY -m d2l_alexnet.bench --device gpu"
plain="$PY $here/benchmarks/plain_torch_loop.py --device cuda --steps 100 --warmup 20"
[ -z "${D2L_ALEXNET_DATA:-}" ] || plain="$plain --data-dir $D2L_ALEXNET_DATA"

step pytorch-bf16 60 $bench --backend pytorch --precision bf16 --steps 50 --warmup 10 \
    --json "$out/gpu-pytorch-bf16.json"
step pytorch-bf16-compile 150 $bench --backend pytorch --precision bf16 --compile \
    --steps 50 --warmup 10 --json "$out/gpu-pytorch-bf16-compile.json"
step plain-bf16 90 $plain --precision bf16 --json "$out/gpu-plain-bf16.json"
step pytorch-fp32 60 $bench --backend pytorch --precision fp32 --steps 50 --warmup 10 \
    --json "$out/gpu-pytorch-fp32.json"
step pytorch-fp32-compile 150 $bench --backend pytorch --precision fp32 --compile \
    --steps 50 --warmup 10 --json "$out/gpu-pytorch-fp32-compile.json"
step plain-fp32 90 $plain --precision fp32 --json "$out/gpu-plain-fp32.json"
step chapter-pytorch-fp32 150 $PY -m d2l_alexnet.train --backend pytorch --device gpu \
    --out "$out/chapter-pytorch-fp32"
mkdir -p "$out/first-layer-filters"  # filters writes into a folder that exists
step first-layer-filters 30 $PY -m d2l_alexnet.filters \
    --weights "$out/chapter-pytorch-fp32/weights.safetensors" \
    --save-kernel "$out/first-layer-filters/conv1.safetensors" \
    --out "$out/first-layer-filters/filters.png"
step tta-pytorch-bf16 120 $bench --backend pytorch --precision bf16 --time-to-accuracy 0.88 \
    --recipe fast --out "$out/tta-pytorch-bf16-fast"
step tta-pytorch-bf16-compile 150 $bench --backend pytorch --precision bf16 --compile \
    --time-to-accuracy 0.88 --recipe fast --out "$out/tta-pytorch-bf16-fast-compile"
step jax-bf16 90 $bench --backend jax --precision bf16 --steps 50 --warmup 10 \
    --json "$out/gpu-jax-bf16.json"
step tta-jax-bf16 90 $bench --backend jax --precision bf16 --time-to-accuracy 0.88 \
    --recipe fast --out "$out/tta-jax-bf16-fast"
step pytorch-bf16-512-compile 150 $bench --backend pytorch --precision bf16 --compile \
    --batch-size 512 --steps 30 --warmup 5 --json "$out/gpu-pytorch-bf16-512-compile.json"
step plain-bf16-512 90 $plain --precision bf16 --batch-size 512 --json "$out/gpu-plain-bf16-512.json"
step pytorch-bf16-host-data 60 $bench --backend pytorch --precision bf16 --data-on-device off \
    --steps 50 --warmup 10 --json "$out/gpu-pytorch-bf16-host-data.json"
step fast10-pytorch-bf16 150 $PY -m d2l_alexnet.train --backend pytorch --device gpu \
    --precision bf16 --recipe fast --epochs 10 --out "$out/fast10-pytorch-bf16"
step fast10-pytorch-bf16-augment 150 $PY -m d2l_alexnet.train --backend pytorch --device gpu \
    --precision bf16 --recipe fast --epochs 10 --augment --out "$out/fast10-pytorch-bf16-augment"
