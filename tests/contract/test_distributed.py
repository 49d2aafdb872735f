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

from d2l_alexnet.core.checkpoint import read_checkpoint
from d2l_alexnet.core.trainer import ReplicaError, replica_count, replica_slices
from repository import child_env

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_worker.py")
RELATIVE_TOLERANCE = 1e-4  # summation order differs between one and two replicas
# How Gloo's C++ side dies when a rank tears its connections down while a peer is still at it: a
# race of PyTorch's process group, seen once in a loaded CI pass (and three clean reruns after),
# which costs that run; the run is tried once more, and a second failure fails the test.
GLOO_TEARDOWN_ABORT = "terminate called without an active exception"


def train(backend_name, replicas, tmp_path, *checkpointing, name=None):
    """The worker's history; ``checkpointing``: its CHECKPOINTS and RESUME arguments."""
    out = tmp_path / f"{name or 'history'}-{replicas}.json"
    command = [sys.executable, WORKER, backend_name, str(replicas), str(out),
               *map(str, checkpointing)]
    if backend_name == "pytorch" and replicas > 1:  # one Gloo process per replica
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={replicas}", *command[1:]]
    # TMPDIR: torchrun leaves a torchelastic_* folder there, which goes with tmp_path.
    env = child_env(OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0 and GLOO_TEARDOWN_ABORT in result.stderr:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["num_replicas"] == replicas
    assert run["resumed_at"] == (read_checkpoint(checkpointing[1]).step
                                 if len(checkpointing) > 1 else None)
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


def test_a_run_on_two_replicas_resumes_exactly(d2l, backend_name, tmp_path):
    """Interrupted mid-epoch on two replicas (with momentum, whose state must come back too) and
    resumed on two: the same history and the same weights as the run left alone."""
    if backend_name == "mxnet":
        pytest.skip("backends/test_mxnet.py resumes on two contexts, momentum and all")
    from safetensors.numpy import load_file

    whole = train(backend_name, 2, tmp_path, tmp_path / "checkpoints", name="whole")
    checkpoint = tmp_path / "checkpoints" / "checkpoint-3.ckpt"  # the first step of epoch 2
    resumed = train(backend_name, 2, tmp_path, tmp_path / "none", checkpoint, name="resumed")
    measured = ("epoch", "step", "train_loss", "val_loss", "val_acc")  # not the clock's
    assert ([[record[key] for key in measured] for record in resumed]
            == [[record[key] for key in measured] for record in whole])
    assert not (tmp_path / "none").exists()
    whole_weights, resumed_weights = (load_file(tmp_path / f"{name}-2.safetensors")
                                      for name in ("whole", "resumed"))
    assert whole_weights.keys() == resumed_weights.keys()
    for key, value in whole_weights.items():
        assert (resumed_weights[key] == value).all(), key


def test_replica_slices_cover_the_global_batch_in_order():
    assert replica_slices(8, 2) == [slice(0, 4), slice(4, 8)]
    assert replica_slices(5, 2) == [slice(0, 3), slice(3, 5)]
    assert replica_slices(1, 2) == [slice(0, 1), slice(1, 1)]
    assert replica_count(0) == replica_count(1) == 1 and replica_count(4) == 4


def test_cli_refuses_fewer_than_one_device(d2l, backend_name, tmp_path):
    env = child_env()
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", "--backend", backend_name,
                             "--devices", "0", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2, result.stderr
    assert "--devices must be at least 1" in result.stderr
    assert not (tmp_path / "run").exists()


# What each framework needs for two replicas on one CPU, and the first words of its refusal.
REPLICA_REFUSALS = {
    "jax": (["--devices", "2", "--device", "cpu"],
            "2 replicas need 2 cpu devices but JAX sees 1: set XLA_FLAGS="),
    "tensorflow": (["--devices", "2", "--device", "cpu"],
                   "2 replicas need 2 CPU devices but TensorFlow sees 1, and the command line "
                   "cannot split the CPU: give each replica a GPU (--device gpu), or run one "
                   "process per replica with TF_CONFIG"),
    "pytorch": (["--devices", "2"], "launch with torchrun --nproc-per-node 2 (python -m "
                                    "torch.distributed.run --nproc-per-node 2, where torchrun "
                                    "is not on PATH) followed by the script, or -m "
                                    "d2l_alexnet.train, and its arguments"),
}


def test_cli_refuses_replicas_it_cannot_make(d2l, backend_name, tmp_path):
    """The refusals the README documents for several devices, each in one line with exit 2."""
    if backend_name == "mxnet":  # in Python: clipping is refused on several contexts
        model = d2l.AlexNet(lr=0.01, resize=67)
        data = d2l.FashionMNIST(batch_size=8, resize=(67, 67), limit_train=8, limit_val=8)
        trainer = d2l.Trainer(max_epochs=1, num_gpus=2, device="cpu", gradient_clip_val=1.0,
                              progress=False, log=None)
        with pytest.raises(ReplicaError, match="gradient_clip_val is not supported on several "
                                               "MXNet contexts"):
            trainer.fit(model, data)
        return
    arguments, message = REPLICA_REFUSALS[backend_name]
    env = child_env()
    env.pop("XLA_FLAGS", None)
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", "--backend",
                             backend_name, *arguments, "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "run").exists()


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jax_coordinator_environments():
    """Two processes that find each other through ``jax.distributed.initialize``."""
    address = f"127.0.0.1:{free_port()}"
    return [{"JAX_COORDINATOR_ADDRESS": address, "JAX_NUM_PROCESSES": "2",
             "JAX_PROCESS_ID": str(index)} for index in range(2)]


def tf_config_environments():
    """Two TensorFlow workers of one ``TF_CONFIG`` cluster."""
    workers = [f"localhost:{free_port()}" for _ in range(2)]
    return [{"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                      "task": {"type": "worker", "index": index}})}
            for index in range(2)]


# The environment of each of two processes on this machine, as on two hosts: read by the
# framework as it starts, so set before any process does.
CLUSTER_ENVIRONMENTS = {"jax": jax_coordinator_environments,
                        "tensorflow": tf_config_environments}


def run_together(commands, environments):
    """Start one process per command at once; wait for all; returns their results."""
    base = child_env(OMP_NUM_THREADS="1")
    base.pop("XLA_FLAGS", None)
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=dict(base, **environment))
                 for command, environment in zip(commands, environments)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        results.append((process.returncode, out, err))
    return results


def test_two_processes_train_as_one_device_and_only_the_first_writes(d2l, backend_name,
                                                                     tmp_path):
    """Several hosts, on one machine: two processes that find each other (JAX through
    jax.distributed.initialize, TensorFlow through TF_CONFIG) take the same steps as one device
    and write their outputs and checkpoints once, from the first."""
    if backend_name == "pytorch":
        pytest.skip("torchrun's processes: test_cli_trains_on_two_replicas_and_the_first_writes")
    if backend_name == "mxnet":
        pytest.skip("MXNet trains on one machine only (README, Scaling out)")
    one = train(backend_name, 1, tmp_path)
    out = tmp_path / "two.json"
    results = run_together([[sys.executable, WORKER, backend_name, "2", str(out)]] * 2,
                           CLUSTER_ENVIRONMENTS[backend_name]())
    for status, stdout, stderr in results:
        assert status == 0, stdout[-2000:] + stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["num_replicas"] == 2
    for single, parallel in zip(one, run["history"]):
        for key in ("train_loss", "val_loss"):
            assert parallel[key] == pytest.approx(single[key], rel=RELATIVE_TOLERANCE), key

    shared_out, shared_ckpt = tmp_path / "run", tmp_path / "ckpt"  # as on a shared disk
    command = [sys.executable, "-m", "d2l_alexnet.train", "--backend", backend_name,
               "--devices", "2", "--device", "cpu", "--epochs", "1", "--batch-size", "8",
               "--limit-train", "16", "--limit-val", "8", "--resize", "67", "--out",
               str(shared_out), "--checkpoint-dir", str(shared_ckpt)]
    results = run_together([command] * 2, CLUSTER_ENVIRONMENTS[backend_name]())
    for status, stdout, stderr in results:
        assert status == 0, stdout[-2000:] + stderr[-3000:]
    first, second = (stdout for _, stdout, _ in results)
    assert "training on 2 " in first and first.count("epoch 1/1: train_loss") == 1
    assert "epoch 1/1" not in second and "wrote" not in second
    assert sorted(os.listdir(shared_out)) == ["curves.png", "metrics.json", "metrics.jsonl",
                                              "weights.safetensors"]
    assert os.listdir(shared_ckpt) == ["checkpoint-2.ckpt"]


def test_cli_trains_on_two_replicas_and_the_first_writes(d2l, backend_name, tmp_path):
    if backend_name == "tensorflow":
        pytest.skip("TensorFlow's CPU splits into logical devices only inside the process: "
                    "test_two_processes_train_as_one_device_and_only_the_first_writes and "
                    "test_cli_refuses_replicas_it_cannot_make cover it")
    out = tmp_path / "run"
    arguments = ["-m", "d2l_alexnet.train", "--backend", backend_name, "--epochs", "1",
                 "--batch-size", "8", "--limit-train", "16", "--limit-val", "8", "--resize",
                 "67", "--device", "cpu", "--out", str(out)]
    # TMPDIR: for torchrun's torchelastic_* folder, as in train().
    env = child_env(OMP_NUM_THREADS="1", XLA_FLAGS="--xla_force_host_platform_device_count=2",
                    TMPDIR=str(tmp_path))
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
