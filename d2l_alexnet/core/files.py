"""Writing files so that a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

import numpy as np
import safetensors
import safetensors.numpy

from .types import Log, PathLike

WRITE_PROBE = ".write-test"  # check_writable_directory's probe, with its PID: proves a folder
# The temporary name atomic_write_bytes gives a file: mkstemp's 8 random characters between
# ".<final name>." and ".tmp".
UNFINISHED_WRITE = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")
# The one __metadata__ entry of the safetensors files written here (weights and checkpoints).
METADATA_KEY = "d2l_alexnet"


WRITE_FIXES = {  # what to do when a file cannot be written, by the error's errno
    errno.ENOSPC: "free some space",
    errno.ENOENT: "make its folder again",
    errno.ENOTDIR: "a file stands where one of its folders should be: choose another path",
    errno.EEXIST: "a file stands where one of its folders should be: choose another path",
    errno.EISDIR: "it is a folder: name a file",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f): raise the limit "
                 "(ulimit -f unlimited)",
}


def write_reason(error: OSError) -> str:
    """Why a write failed, in a few words (a full disk said as such)."""
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    return error.strerror or str(error)


def write_fix(error: OSError) -> str:
    """What to do about a failed write, by its errno (:data:`WRITE_FIXES`)."""
    return WRITE_FIXES.get(error.errno or 0, "make its folder writable again")


def atomic_write_bytes(path: PathLike, payload: bytes,
                       before_rename: Callable[[str], object] | None = None) -> None:
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


def remove_unfinished_writes(directory: PathLike, final_names: Iterable[str],
                             log: Log | None = print) -> list[str]:
    """Remove the temporary files :func:`atomic_write_bytes` leaves in ``directory`` when its
    process is killed before the rename (SIGKILL, a power cut), for the files whose final names
    match one of the shell patterns ``final_names`` (``"checkpoint-*.ckpt"``; and the
    writability probe's); returns their names, said in one line through ``log``. Only our own
    naming is touched. Call it only once this run owns ``directory``: another run's temporary
    file may still be growing."""
    def ours(name):
        match = UNFINISHED_WRITE.fullmatch(name)
        if match is None or probe_of_a_live_process(match.group(1)):
            return False
        return any(fnmatch.fnmatchcase(match.group(1), pattern)
                   for pattern in (*final_names, f"{WRITE_PROBE}*"))
    try:
        found = sorted(name for name in os.listdir(directory) if ours(name))
    except FileNotFoundError:
        return []
    for name in found:
        os.remove(os.path.join(directory, name))
    if found and log is not None:
        log(f"removed {', '.join(found)} in {directory}: unfinished write(s) of a run that was "
            "killed while writing (the files they were to replace are as they were)")
    return found


def probe_of_a_live_process(name: str) -> bool:
    """Whether ``name`` is the writability probe of a process still running: another run
    proving the folder writable before it asks for the lock (which this run holds), which a
    removal of its probe would refuse as if the folder could not be written."""
    pid = name[len(WRITE_PROBE) + 1:] if name.startswith(f"{WRITE_PROBE}-") else ""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # (PermissionError: alive, another user's)
        return True
    return True


def current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_json(path: PathLike, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def missing_directories(path: PathLike) -> list[str]:
    """The folders ``os.makedirs(path)`` would create, outermost first."""
    missing, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing[::-1]


def make_directories(path: PathLike) -> list[str]:
    """``os.makedirs(path, exist_ok=True)``, returning the folders it created, outermost first
    (what :func:`remove_directories` takes back when a later check refuses the run)."""
    missing = missing_directories(path)
    os.makedirs(path, exist_ok=True)
    return missing


def remove_directories(folders: Sequence[str]) -> None:
    """Remove folders :func:`make_directories` created, innermost first, if still empty."""
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty, or gone: leave it


def check_writable_directory(path: PathLike) -> list[str]:
    """Create ``path`` if needed and prove a file can be written there; returns the folders it
    created. On ``OSError`` nothing it created is left behind."""
    created = make_directories(path)
    # A probe of this process's own: two runs starting at once in one folder must not remove
    # each other's (the second would be refused as if the folder were unwritable).
    probe = f"{WRITE_PROBE}-{os.getpid()}"
    try:
        atomic_write_bytes(os.path.join(path, probe), b"ok")
        os.remove(os.path.join(path, probe))
    except OSError:
        remove_directories(created)
        raise
    return created


def nearest_existing(path: PathLike) -> str:
    """``path`` (absolute), or the nearest folder above it that exists: where a file of
    ``path`` would be written, for the questions asked of its disk before it is made."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder


def free_bytes(path: PathLike) -> int:
    """Free space on the disk that holds ``path``, or would hold it (its nearest existing
    folder)."""
    return shutil.disk_usage(nearest_existing(path)).free


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: Any) -> bytes:
    """A safetensors file of ``tensors`` whose ``__metadata__`` is ONE entry, ``d2l_alexnet``:
    ``metadata`` as canonical JSON (sorted keys, fixed separators). The safetensors library
    keeps ``__metadata__`` in a hash map and writes several keys in another order every time;
    one key it cannot reorder, so the same content always gives the same bytes."""
    return safetensors.numpy.save(tensors, metadata={METADATA_KEY: canonical_json(metadata)})


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def safetensors_metadata(header: Mapping[str, str] | None) -> dict[str, Any]:
    """The metadata dict of a safetensors ``__metadata__`` (``handle.metadata()``): unpacked
    from the one entry :func:`safetensors_bytes` writes, or as it is in a file written before
    (one key per entry) or by another tool. ``ValueError`` when our entry is not a JSON object."""
    header = header or {}
    if METADATA_KEY not in header:
        return dict(header)
    metadata = json.loads(header[METADATA_KEY])
    if not isinstance(metadata, dict):
        raise ValueError(f"its {METADATA_KEY!r} metadata is not a JSON object")
    return metadata
