"""Data-parallel training on each framework's own engine, on two CPU replicas.

With dropout off, two replicas at global batch B take the same steps as one device at batch B
(the same data order, the gradient of the same global mean), so the per-epoch losses agree to
float rounding.
"""

import json
import os
import subprocess
import sys

import pytest

from d2l_alexnet.core.trainer import replica_count, replica_slices

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "distributed_worker.py")
RELATIVE_TOLERANCE = 1e-4  # summation order differs between one and two replicas


def train(backend_name, replicas, tmp_path):
    out = tmp_path / f"history-{replicas}.json"
    command = [sys.executable, WORKER, backend_name, str(replicas), str(out)]
    if backend_name == "pytorch" and replicas > 1:  # one Gloo process per replica
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={replicas}", *command[1:]]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["num_replicas"] == replicas
    return run["history"]


def test_two_replicas_follow_one_devices_loss_trajectory(d2l, backend_name, tmp_path):
    one = train(backend_name, 1, tmp_path)
    two = train(backend_name, 2, tmp_path)
    assert len(one) == len(two) == 2
    for single, parallel in zip(one, two):
        for key in ("train_loss", "val_loss"):
            assert parallel[key] == pytest.approx(single[key], rel=RELATIVE_TOLERANCE), (
                key, one, two)
        assert parallel["val_acc"] == pytest.approx(single["val_acc"], abs=1e-9)
    assert two[-1]["train_loss"] < two[0]["train_loss"]  # it learns


def test_replica_slices_cover_the_global_batch_in_order():
    assert replica_slices(8, 2) == [slice(0, 4), slice(4, 8)]
    assert replica_slices(5, 2) == [slice(0, 3), slice(3, 5)]
    assert replica_slices(1, 2) == [slice(0, 1), slice(1, 1)]
    assert replica_count(0) == replica_count(1) == 1 and replica_count(4) == 4


def test_cli_refuses_fewer_than_one_device(d2l, backend_name, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", "--backend", backend_name,
                             "--devices", "0", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2, result.stderr
    assert "--devices must be at least 1" in result.stderr
    assert not (tmp_path / "run").exists()


def test_cli_trains_on_two_replicas_and_the_first_writes(d2l, backend_name, tmp_path):
    if backend_name == "tensorflow":
        pytest.skip("TensorFlow's CPU splits into logical devices only inside the process "
                    "(test_two_replicas_follow_one_devices_loss_trajectory covers it)")
    out = tmp_path / "run"
    arguments = ["-m", "d2l_alexnet.train", "--backend", backend_name, "--epochs", "1",
                 "--batch-size", "8", "--limit-train", "16", "--limit-val", "8", "--resize",
                 "67", "--device", "cpu", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    if backend_name == "pytorch":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node=2", *arguments]
    else:
        command = [sys.executable, *arguments, "--devices", "2"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "training on 2 " in result.stdout, result.stdout
    assert result.stdout.count("epoch 1/1: train_loss") == 1  # the first replica speaks
    history = json.loads((out / "metrics.json").read_text())
    assert len(history) == 1 and history[0]["train_loss"] > 0
    assert (out / "weights.safetensors").exists() and (out / "curves.png").exists()
