"""One small data-parallel training run for ``test_distributed.py``, in a process of its own
(each framework must learn about its devices before it is imported):

    python distributed_worker.py BACKEND REPLICAS OUT.json [CHECKPOINTS [RESUME]]

2 epochs of 16 images at global batch 8, dropout off, on ``REPLICAS`` CPU replicas: two
host devices for JAX, two logical CPUs for TensorFlow, ``cpu(0)``/``cpu(1)`` for MXNet, and
for PyTorch one Gloo process per replica (this script run by ``torchrun``); or one process per
replica for JAX (``JAX_COORDINATOR_ADDRESS``...) and TensorFlow (``TF_CONFIG``), as on several
machines. The first replica writes the history to ``OUT.json``.

With ``CHECKPOINTS`` (a folder) the run has momentum 0.9, so that resuming needs the optimizer's
state too: it saves a checkpoint after every step there, or, given a ``RESUME`` checkpoint,
resumes from it and saves none; the first replica also writes the trained weights beside
``OUT.json`` (``OUT.safetensors``).
"""

import json
import os
import sys

EPOCHS, BATCH, TRAIN, VAL, SIZE = 2, 8, 16, 8, 67


def main(backend, replicas, out, checkpoints=None, resume=None):
    # Several processes (a JAX coordinator or a TensorFlow cluster in the environment): one
    # device each. One process: two devices of its CPU.
    several_processes = "JAX_COORDINATOR_ADDRESS" in os.environ or "TF_CONFIG" in os.environ
    if backend == "jax" and not several_processes:  # before jax is imported
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    if backend == "tensorflow" and not several_processes:  # before any TensorFlow op
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from d2l_alexnet.backends import load_backend
    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint

    d2l = load_backend(backend)
    d2l.initialize_distributed()
    d2l.set_seed(0)
    data = d2l.FashionMNIST(batch_size=BATCH, resize=(SIZE, SIZE), limit_train=TRAIN,
                            limit_val=VAL)
    model = d2l.AlexNet(lr=0.05, num_classes=10, resize=SIZE, dropout=0,
                        momentum=0.9 if checkpoints else 0.0)
    trainer = d2l.Trainer(max_epochs=EPOCHS, num_gpus=replicas, device="cpu", progress=False,
                          log=None)
    if checkpoints and not resume:
        Checkpointer(checkpoints, every=1, keep=EPOCHS * TRAIN // BATCH, log=None).attach(trainer)
    history = trainer.fit(model, data, resume=read_checkpoint(resume) if resume else None)
    if trainer.is_first_replica:
        with open(out, "w") as file:
            json.dump({"history": history, "num_replicas": trainer.num_replicas,
                       "resumed_at": getattr(trainer.resumed_from, "step", None)}, file)
        if checkpoints:
            model.save_weights(os.path.splitext(out)[0] + ".safetensors")
    getattr(trainer, "close", lambda: None)()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:])
