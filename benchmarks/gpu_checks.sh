#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md ("GPU"), in one short pass on a machine with a CUDA GPU and
# the frameworks already installed: `bash benchmarks/gpu_checks.sh OUT_DIR DATA_DIR`
# (`bash benchmarks/gpu_checks.sh --list` names the steps, their part and their time limit).
#
# DATA_DIR (or $D2L_ALEXNET_DATA) must hold the full Fashion-MNIST, the four official .gz files;
# the script refuses to start otherwise, since a lent machine has no copy and no internet. To
# take it along: `mkdir .fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz
# .fashion-mnist/ && echo /.fashion-mnist/ >>.git/info/exclude`, name `.fashion-mnist` in the
# device call's `carry`, and pass `.fashion-mnist` as DATA_DIR.
#
# Each step has its own time limit and a failed step does not stop the next, so that one pass
# brings back everything that worked; OUT_DIR/summary.txt lists each step's exit status, or
# "skipped" with why, under one "# call" line per call (a second call into the same OUT_DIR
# appends). Variables that choose what runs (an unknown step name is refused before anything
# runs):
# - PART=1, 2 or 3: the steps of that part (--list); parts 1 and 2 each fit one 600 s call
#   by their limits, part 3 is what a later lease can take;
# - ONLY="step step ...": just those steps; SKIP="step ...": all but those;
# - DEADLINE=SECONDS from the script's start: a step whose limit no longer fits before it is
#   skipped (and named in summary.txt), so a call ends inside its own time limit;
# - ARCHIVE=FILE.tar.gz: OUT_DIR (weights left out, the first layer's small kernel kept) is
#   packed into FILE after every step, so that a pass stopped from outside still leaves the
#   steps it finished. A lent machine brings back only a few files of limited size from $OUT:
#   keep OUT_DIR outside $OUT (e.g. /tmp/gpu) and set ARCHIVE=$OUT/part1.tar.gz.
#
# The parts, most wanted first (issue 36 "Measured, in one pass"):
# 1. our PyTorch step and end to end at batch 128, bf16 and fp32, eager and --compile (the
#    data on the device, as on every GPU run), and the plain compiled PyTorch loop in bf16
#    (benchmarks/plain_torch_loop.py), the reference for what the card can do;
# 2. the chapter's 10 epochs from the command's start, its first layer's filters kept for the
#    chapter's figure (results/first-layer-filters/); time to 0.88 with --recipe fast in PyTorch
#    and JAX; JAX's bf16 step and end to end;
# 3. for a later lease: JAX fp32, batch 512 (compiled bf16 and fp32, eager bf16, the plain
#    loop), the plain loop in fp32, the data left on the host, and the fast recipe over 10
#    epochs with and without --augment (issue 35).
# JAX steps run with JAX_LOG_COMPILES=1 and compiled PyTorch steps with TORCH_LOGS=recompiles,
# so each step's log counts its compilations.
set -u
usage="usage: gpu_checks.sh OUT_DIR DATA_DIR | gpu_checks.sh --list"
out=${1:?$usage}
listing=no
[ "$out" = --list ] && listing=yes
export D2L_ALEXNET_DATA=${2:-${D2L_ALEXNET_DATA:-}}
export PYTHONUNBUFFERED=1
# The library from this checkout, for the scripts of benchmarks/ too.
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
summary=$out/summary.txt
bench="$PY -m d2l_alexnet.bench --device gpu"
plain="$PY $here/benchmarks/plain_torch_loop.py --device cuda --steps 100 --warmup 20"
plain="$plain --data-dir $D2L_ALEXNET_DATA"
jax_env="env JAX_LOG_COMPILES=1"
compiled_env="env TORCH_LOGS=recompiles"

refuse() {  # refuse MESSAGE: one line for the person, exit 2 before anything has run
    echo "gpu_checks.sh: $1" >&2
    exit 2
}

known=" "  # every step's name, as the first pass over `steps` (mode=collect) finds them
mode=collect

wanted() {  # wanted NAME PART: whether PART, ONLY and SKIP let the step run
    case " ${SKIP:-} " in *" $1 "*) return 1;; esac
    [ -z "${PART:-}" ] || [ "$PART" = "$2" ] || return 1
    [ -z "${ONLY:-}" ] && return 0
    case " $ONLY " in *" $1 "*) return 0;; esac
    return 1
}

archive() {  # packs OUT_DIR into ARCHIVE whole or not at all: a stopped tar leaves no half file
    [ -n "${ARCHIVE:-}" ] || return 0
    local partial
    partial="$(dirname "$ARCHIVE")/.$(basename "$ARCHIVE").partial"
    tar czf "$partial" --exclude='weights.safetensors' --exclude='best.safetensors' \
        --exclude='*.ckpt' -C "$out" . && mv -f "$partial" "$ARCHIVE"
}

step() {  # step NAME PART SECONDS COMMAND...: output in OUT/NAME.log, status in summary.txt
    local name=$1 part=$2 limit=$3 start=$SECONDS
    shift 3
    case $mode in
        collect) known="$known$name "; return 0;;
        list) echo "$name part=$part limit=${limit}s"; return 0;;
    esac
    wanted "$name" "$part" || return 0
    if [ -n "${DEADLINE:-}" ] && [ $((SECONDS + limit)) -gt "$DEADLINE" ]; then
        echo "$name skipped: its ${limit}s limit does not fit the $((DEADLINE - SECONDS))s" \
            "left before DEADLINE=$DEADLINE" | tee -a "$summary"
        return 0
    fi
    if [ "$name" = first-layer-filters ]; then  # filters writes into a folder that exists
        mkdir -p "$out/first-layer-filters"
    fi
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local status=$?
    echo "$name rc=$status $((SECONDS - start))s (${SECONDS}s in all)" | tee -a "$summary"
    archive
}

steps() {  # every step in order: part 1, then 2, then 3, each most wanted first
    step pytorch-bf16 1 60 $bench --backend pytorch --precision bf16 --steps 50 --warmup 10 \
        --json "$out/gpu-pytorch-bf16.json"
    step pytorch-bf16-compile 1 150 $compiled_env $bench --backend pytorch --precision bf16 \
        --compile --steps 50 --warmup 10 --json "$out/gpu-pytorch-bf16-compile.json"
    step plain-bf16 1 90 $compiled_env $plain --precision bf16 --json "$out/gpu-plain-bf16.json"
    step pytorch-fp32 1 60 $bench --backend pytorch --precision fp32 --steps 50 --warmup 10 \
        --json "$out/gpu-pytorch-fp32.json"
    step pytorch-fp32-compile 1 150 $compiled_env $bench --backend pytorch --precision fp32 \
        --compile --steps 50 --warmup 10 --json "$out/gpu-pytorch-fp32-compile.json"

    step chapter-pytorch-fp32 2 120 $PY -m d2l_alexnet.train --backend pytorch --device gpu \
        --out "$out/chapter-pytorch-fp32"
    step first-layer-filters 2 30 $PY -m d2l_alexnet.filters \
        --weights "$out/chapter-pytorch-fp32/weights.safetensors" \
        --save-kernel "$out/first-layer-filters/conv1.safetensors" \
        --out "$out/first-layer-filters/filters.png"
    step tta-pytorch-bf16 2 60 $bench --backend pytorch --precision bf16 \
        --time-to-accuracy 0.88 --recipe fast --out "$out/tta-pytorch-bf16-fast"
    step jax-bf16 2 90 $jax_env $bench --backend jax --precision bf16 --steps 50 --warmup 10 \
        --json "$out/gpu-jax-bf16.json"
    step tta-jax-bf16 2 90 $jax_env $bench --backend jax --precision bf16 \
        --time-to-accuracy 0.88 --recipe fast --out "$out/tta-jax-bf16-fast"
    step tta-pytorch-bf16-compile 2 150 $compiled_env $bench --backend pytorch --precision bf16 \
        --compile --time-to-accuracy 0.88 --recipe fast --out "$out/tta-pytorch-bf16-fast-compile"

    step jax-fp32 3 90 $jax_env $bench --backend jax --precision fp32 --steps 50 --warmup 10 \
        --json "$out/gpu-jax-fp32.json"
    step pytorch-bf16-512-compile 3 150 $compiled_env $bench --backend pytorch --precision bf16 \
        --compile --batch-size 512 --steps 30 --warmup 5 \
        --json "$out/gpu-pytorch-bf16-512-compile.json"
    step pytorch-fp32-512-compile 3 150 $compiled_env $bench --backend pytorch --precision fp32 \
        --compile --batch-size 512 --steps 30 --warmup 5 \
        --json "$out/gpu-pytorch-fp32-512-compile.json"
    step pytorch-bf16-512 3 60 $bench --backend pytorch --precision bf16 --batch-size 512 \
        --steps 30 --warmup 5 --json "$out/gpu-pytorch-bf16-512.json"
    step plain-bf16-512 3 90 $compiled_env $plain --precision bf16 --batch-size 512 \
        --json "$out/gpu-plain-bf16-512.json"
    step plain-fp32 3 90 $compiled_env $plain --precision fp32 --json "$out/gpu-plain-fp32.json"
    step pytorch-bf16-host-data 3 60 $bench --backend pytorch --precision bf16 \
        --data-on-device off --steps 50 --warmup 10 --json "$out/gpu-pytorch-bf16-host-data.json"
    step fast10-pytorch-bf16 3 150 $PY -m d2l_alexnet.train --backend pytorch --device gpu \
        --precision bf16 --recipe fast --epochs 10 --out "$out/fast10-pytorch-bf16"
    step fast10-pytorch-bf16-augment 3 150 $PY -m d2l_alexnet.train --backend pytorch \
        --device gpu --precision bf16 --recipe fast --epochs 10 --augment \
        --out "$out/fast10-pytorch-bf16-augment"
}

if [ $listing = yes ]; then
    mode=list steps
    exit 0
fi

# Everything a call could get wrong is refused here, before a step runs or a file is written.
steps
for name in ${ONLY:-} ${SKIP:-}; do
    case $known in *" $name "*) ;; *)
        refuse "no step named '$name' in ONLY/SKIP; the steps are:$known(--list adds parts)";;
    esac
done
case ${PART:-} in ""|1|2|3) ;; *) refuse "PART=$PART: the parts are 1, 2 and 3 (--list)";; esac
case ${DEADLINE:-} in
    ""|*[!0-9]*) [ -z "${DEADLINE:-}" ] || refuse "DEADLINE=$DEADLINE: give whole seconds";;
esac
if [ -n "${ARCHIVE:-}" ]; then
    case $(realpath -m "$ARCHIVE")/ in "$(realpath -m "$out")"/*)
        refuse "ARCHIVE=$ARCHIVE lies inside OUT_DIR $out, so it would pack itself: put it" \
            "beside it (e.g. OUT_DIR /tmp/gpu, ARCHIVE=\$OUT/part1.tar.gz)";;
    esac
fi
how_to_carry="copy the four Fashion-MNIST .gz files into a git-ignored folder of the checkout\
 (e.g. .fashion-mnist/, in .git/info/exclude), name it in the device call's carry, and pass it\
 as DATA_DIR"
[ -n "$D2L_ALEXNET_DATA" ] || refuse "no DATA_DIR: the steps need the full Fashion-MNIST;\
 $how_to_carry"
# The library's own loader, with no download and no subset: the full set, verified, or why not.
why=$($PY -c "import sys
from d2l_alexnet.core.data import load_fashion_mnist
try:
    load_fashion_mnist(sys.argv[1], download=False, log=None)
except Exception as error:  # what is wrong, without the library's advice for a desktop
    print(' '.join(str(error).split('. To get the full set')[0].split()))
    sys.exit(1)" "$D2L_ALEXNET_DATA" 2>&1) ||
    refuse "DATA_DIR $D2L_ALEXNET_DATA is not the full Fashion-MNIST ($why): $how_to_carry"

mkdir -p "$out"
echo "# call at $(date -u +%FT%TZ): PART=${PART:-} ONLY=${ONLY:-} SKIP=${SKIP:-}" \
    "DEADLINE=${DEADLINE:-}" >>"$summary"
{  # the GPU and the CUDA build here; the CPU and versions as every result JSON records them
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    $PY -c "import torch; print('torch built for CUDA', torch.version.cuda)"
    $PY -c "import json; from d2l_alexnet.bench import machine, versions
print(json.dumps({'machine': machine(), 'versions': {**versions('pytorch'), **versions('jax')}}))"
} >"$out/machine.txt" 2>&1
mode=run steps
