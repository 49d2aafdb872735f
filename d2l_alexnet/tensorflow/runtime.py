"""TensorFlow imported quietly (Keras 3 on its TensorFlow backend required), the cluster strategy
of a ``TF_CONFIG`` run, devices, seeds and host arrays: what the backend's other files need."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

import numpy as np
from ..backends import BackendError
from ..core.contract import device_choosers


def _import_tensorflow():
    """Import TensorFlow without its start-up log lines unless ``TF_CPP_MIN_LOG_LEVEL=0``.

    TF 2.21 writes its oneDNN notice through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``, so
    the variable alone does not silence it; and its CUDA build logs a "failed call to cuInit"
    error the first time it looks for devices on a machine without a GPU, so it looks here.
    Stderr goes to a temporary file for the import only; if the import fails, what TF wrote is
    replayed before the error, so nothing useful is lost. Later, only TF's INFO lines are left
    out (level 1): its warnings (a tf.data cache read in part, say) still reach the user.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
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


def _import_keras_on_tensorflow():
    """TensorFlow and its Keras 3, on Keras' TensorFlow backend whatever the user's settings
    name, when Keras is not imported yet; a :class:`BackendError` when it is, on another.

    Keras 3 fixes its backend once, when it is first imported (``keras/src/backend/config.py``
    reads ``keras.json``'s ``"backend"``, then lets ``KERAS_BACKEND`` override it), and TensorFlow
    imports Keras itself. On the JAX backend, say, our Keras layers met TensorFlow's symbolic
    tensors in ``tf.function`` and failed deep inside JAX. So ``KERAS_BACKEND`` names TensorFlow
    for that first import, then is put back as it was, for the processes the user starts.
    """
    keras_imported_before = "keras" in sys.modules
    saved = os.environ.get("KERAS_BACKEND")
    if not keras_imported_before:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    try:
        tensorflow = _import_tensorflow()
        keras = tensorflow.keras
    finally:
        if saved is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = saved
    if not keras.__version__.startswith("3."):  # variable paths, dtype policies per layer...
        raise ImportError(f"the tensorflow backend needs Keras 3 (TensorFlow >= 2.16); found "
                          f"TensorFlow {tensorflow.__version__} with Keras {keras.__version__}")
    backend = keras.config.backend()
    if backend != "tensorflow":
        raise BackendError(
            f"Keras was imported on its {backend} backend before the tensorflow edition "
            f"(KERAS_BACKEND or keras.json's \"backend\"), and a process keeps the backend "
            f"Keras started with: restart Python (the notebook's kernel) and import "
            f"d2l_alexnet.tensorflow before keras, or start it with KERAS_BACKEND=tensorflow")
    return tensorflow, keras


tf, keras = _import_keras_on_tensorflow()

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
