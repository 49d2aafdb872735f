"""One run per folder: an exclusive lock on a run's ``--out`` and ``--checkpoint-dir``.

Two runs writing into one folder overwrite each other's checkpoints and outputs, and the first
can then never resume; so a run holds a lock on each of its folders for its whole life, and a
second run there is refused with a line naming the first (its PID, start time and command,
which the holder writes into the lock file).

The lock is ``fcntl.flock`` on ``<folder>/.d2l_alexnet.lock`` rather than the ``filelock``
package: it needs no dependency (``filelock``'s Unix lock is this same call), and the kernel
releases it when the process ends in any way, SIGKILL and power cut included, so a killed run
never leaves a lock that blocks the next one (the file stays, unlocked; the next run takes it
over). A run that ends normally removes the file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from .errors import UsageError
from .types import Log, PathLike

LOCK_NAME = ".d2l_alexnet.lock"


class FolderInUse(UsageError):
    """Another running process holds the folder's lock (exit 2)."""


class LockFileUnusable(FolderInUse):
    """The folder's lock file cannot be opened at all (another user's, mode 0600; a folder of
    that name): refused as a folder in use is (exit 2, the caller's cleanup the same), naming
    the fix."""


def lock_path(folder: PathLike) -> str:
    return os.path.join(folder, LOCK_NAME)


def holder_of(path: PathLike) -> str:
    """What the lock file at ``path`` says of the run holding it (PID, start, command)."""
    for _ in range(20):  # the holder writes it right after locking: give it a moment
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read().strip()
        except OSError:
            text = ""
        if text:
            return text
        time.sleep(0.05)
    return "a process that has not said which yet"


def in_use(folder: PathLike, flag: str, holder: str) -> FolderInUse:
    return FolderInUse(f"{flag} {folder} is in use by another run ({holder}): wait for it to "
                       f"end, or choose another {flag}")


def check_not_in_use(folder: PathLike, flag: str) -> None:
    """Raise :class:`FolderInUse` if a running process holds ``folder``'s lock. Creates and
    locks nothing: a probe, for a check that would otherwise give other advice."""
    path = lock_path(folder)
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise in_use(folder, flag, holder_of(path)) from None
    except OSError:
        return  # no locks on this filesystem: nothing to learn
    finally:
        os.close(descriptor)


class FolderLocks:
    """The locks one run holds; a context manager that releases them all on exit.

    ``take(folder, flag, description)`` locks an existing folder (once, however many flags name
    it) or raises :class:`FolderInUse` naming the holder; ``description`` (PID, start time,
    command) goes into the lock file for the next run's message.
    """

    def __init__(self, log: Log | None = None) -> None:
        # The folder's real path -> (lock file path, descriptor).
        self.held: dict[str, tuple[str, int]] = {}
        self.log = log

    def __enter__(self) -> FolderLocks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def take(self, folder: PathLike, flag: str, description: str) -> None:
        key = os.path.realpath(folder)
        if key in self.held:
            return
        path = lock_path(folder)
        while True:
            descriptor, writable = open_lock_file(folder, flag)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                raise in_use(folder, flag, holder_of(path)) from None
            except OSError as error:  # a filesystem without locks (some network mounts)
                os.close(descriptor)
                if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                if self.log is not None:
                    self.log(f"warning: cannot lock {flag} {folder} ({error.strerror}): a "
                             "second run started there would not be refused")
                return
            # The holder before us may have removed the file between our open and our lock:
            # then we locked a file no one else will see, so lock the one at the path now.
            try:
                same = os.path.samestat(os.fstat(descriptor), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(descriptor)
        if writable:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, (description + "\n").encode("utf-8", "surrogateescape"))
        elif self.log is not None:
            self.log(f"warning: {flag} {folder}'s lock file {LOCK_NAME} is read-only to this "
                     "user: this run holds its lock all the same, but a second run there would "
                     "be told of the run that wrote the file, not of this one")
        self.held[key] = (path, descriptor)

    def release(self) -> None:
        """Remove each lock file (while still holding it, so no one takes a file on its way
        out), then unlock it."""
        for path, descriptor in self.held.values():
            try:
                os.remove(path)
            except OSError:
                pass  # gone already, or a read-only folder: closing unlocks it all the same
            os.close(descriptor)
        self.held.clear()


def open_lock_file(folder: PathLike, flag: str) -> tuple[int, bool]:
    """A descriptor of ``folder``'s lock file, created if missing, and whether it can be
    written. A file left by another user (root's run, mode 0644) or made immutable cannot be
    opened for writing, but ``flock`` locks a read-only descriptor just as well; one that
    cannot even be read, or a folder of that name, is refused in one line."""
    path = lock_path(folder)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666), True
    except PermissionError:  # EACCES (another user's file) or EPERM (chattr +i)
        pass
    except IsADirectoryError:
        raise LockFileUnusable(f"{flag} {folder} holds a folder named {LOCK_NAME}, the name of "
                               "the file a run locks there: remove or rename it, or choose "
                               f"another {flag}") from None
    except OSError as error:
        raise unusable(folder, flag, error) from None
    try:
        return os.open(path, os.O_RDONLY), False
    except OSError as error:
        raise unusable(folder, flag, error) from None


def unusable(folder: PathLike, flag: str, error: OSError) -> LockFileUnusable:
    return LockFileUnusable(f"cannot open {flag} {folder}'s lock file {LOCK_NAME} "
                            f"({error.strerror or error}): if no run is using the folder, have "
                            f"its owner remove the file, or choose another {flag}")


def describe_process(command: str) -> str:
    """The lock file's text: this process's PID, start time and ``command``."""
    return f"PID {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: {command}"
