"""TensorFlow imported quietly (Keras 3 required), the cluster strategy of a ``TF_CONFIG`` run,
devices, seeds and host arrays: what the backend's other files need."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

import numpy as np
from ..core.contract import device_choosers


def _import_tensorflow():
    """Import TensorFlow without its start-up log lines unless ``TF_CPP_MIN_LOG_LEVEL=0``.

    TF 2.21 writes its oneDNN notice through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``, so
    the variable alone does not silence it; and its CUDA build logs a "failed call to cuInit"
    error the first time it looks for devices on a machine without a GPU, so it looks here.
    Stderr goes to a temporary file for the import only; if the import fails, what TF wrote is
    replayed before the error, so nothing useful is lost.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("", "0"):
        import tensorflow
        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        try:
            os.dup2(captured.fileno(), 2)
            import tensorflow
            tensorflow.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow


tf = _import_tensorflow()
keras = tf.keras
if not keras.__version__.startswith("3."):  # variable paths, dtype policies per layer...
    raise ImportError(f"the tensorflow backend needs Keras 3 (TensorFlow >= 2.16); found "
                      f"TensorFlow {tf.__version__} with Keras {keras.__version__}")

# Several machines (TF_CONFIG names the cluster): TensorFlow configures the collectives only
# before its first op ("Collective ops must be configured at program startup"), so the strategy
# is made here, on import, before any model, in the CLI and in Python alike.
CLUSTER_STRATEGY = tf.distribute.MultiWorkerMirroredStrategy() if "TF_CONFIG" in os.environ \
    else None

#: Precisions this backend trains in (bf16: Keras mixed_bfloat16 on this model's layers).
PRECISIONS = ("fp32", "bf16")
#: Parameter layout (core/weights.py): HWIO kernels, (in, out) dense kernels, H×W×C flatten.
LAYOUT = "NHWC"


def cpu() -> Any:  # tf.device's context: `with cpu(): ...`
    return tf.device("/CPU:0")


def gpu(i: int = 0) -> Any:
    return tf.device(f"/GPU:{i}")


def num_gpus() -> int:
    return len(tf.config.list_physical_devices("GPU"))


try_gpu, try_all_gpus = device_choosers(cpu, gpu, num_gpus)


def set_seed(seed: int) -> None:
    """Seed every RNG the model and its dropout draw from (Python's, which Keras initializers and
    dropout layers take their seeds from, numpy's and TensorFlow's)."""
    keras.utils.set_random_seed(int(seed))


def initialize_distributed() -> None:
    """Nothing: TensorFlow joins the workers that ``TF_CONFIG`` names itself, through the
    :data:`CLUSTER_STRATEGY` made on import, before its first op."""


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor or variable as a numpy array (on the host)."""
    return tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor)
