"""Writing files so that a crash or a full disk never leaves half a file behind."""

import json
import os
import shutil
import tempfile


def atomic_write_bytes(path, payload, before_rename=None):
    """Write ``payload`` to a temporary file beside ``path``, fsync it, then rename it into place.

    ``before_rename(temporary path)`` runs between the fsync and the rename (a test hook: the
    checkpoint tests kill the process there)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                         dir=directory)
    try:
        # mkstemp makes the file private (0600); a finished output gets what the umask allows,
        # as open() would give it, so others can read the weights and metrics a run wrote.
        os.fchmod(handle, 0o666 & ~current_umask())
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


def current_umask():
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_json(path, value):
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def missing_directories(path):
    """The folders ``os.makedirs(path)`` would create, outermost first."""
    missing, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing[::-1]


def make_directories(path):
    """``os.makedirs(path, exist_ok=True)``, returning the folders it created, outermost first
    (what :func:`remove_directories` takes back when a later check refuses the run)."""
    missing = missing_directories(path)
    os.makedirs(path, exist_ok=True)
    return missing


def remove_directories(folders):
    """Remove folders :func:`make_directories` created, innermost first, if still empty."""
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty, or gone: leave it


def check_writable_directory(path):
    """Create ``path`` if needed and prove a file can be written there; returns the folders it
    created. On ``OSError`` nothing it created is left behind."""
    created = make_directories(path)
    # A probe of this process's own: two runs starting at once in one folder must not remove
    # each other's (the second would be refused as if the folder were unwritable).
    probe = f".write-test-{os.getpid()}"
    try:
        atomic_write_bytes(os.path.join(path, probe), b"ok")
        os.remove(os.path.join(path, probe))
    except OSError:
        remove_directories(created)
        raise
    return created


def free_bytes(path):
    """Free space on the disk that holds ``path``, or would hold it (its nearest existing
    folder)."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free
