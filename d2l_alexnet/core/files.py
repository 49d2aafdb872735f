"""Writing files so that a crash or a full disk never leaves half a file behind."""

import json
import os
import tempfile


def atomic_write_bytes(path, payload, before_rename=None):
    """Write ``payload`` to a temporary file beside ``path``, fsync it, then rename it into place.

    ``before_rename(temporary path)`` runs between the fsync and the rename (a test hook: the
    checkpoint tests kill the process there)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                         dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        if before_rename is not None:
            before_rename(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def atomic_write_json(path, value):
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def check_writable_directory(path):
    """Create ``path`` if needed and prove a file can be written there; ``OSError`` otherwise."""
    os.makedirs(path, exist_ok=True)
    atomic_write_bytes(os.path.join(path, ".write-test"), b"ok")
    os.remove(os.path.join(path, ".write-test"))
