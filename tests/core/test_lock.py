"""One run per folder (``core/lock.py``): held by a live process, refused naming it; released
by the kernel when that process is SIGKILLed."""

import os
import signal
import shutil
import subprocess
import sys
import tempfile

import pytest

from d2l_alexnet.core.checkpoint import list_checkpoints
from d2l_alexnet.core.lock import (LOCK_NAME, FolderInUse, FolderLocks, LockFileUnusable,
                                   check_not_in_use, describe_process)
from repository import child_env

HOLDER = """import sys, time
from d2l_alexnet.core.lock import FolderLocks, describe_process
locks = FolderLocks()
locks.take(sys.argv[1], "--out", describe_process("python -m d2l_alexnet.train --out here"))
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path/run``'s lock; killed at the end if still alive."""
    folder = tmp_path / "run"
    folder.mkdir()
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                               stdout=subprocess.PIPE, text=True,
                               env=child_env())
    assert process.stdout.readline().strip() == "locked"
    yield folder, process
    process.kill()
    process.wait()


def test_a_folder_held_by_a_running_process_is_refused_naming_it(holder):
    folder, process = holder
    with FolderLocks() as locks:
        with pytest.raises(FolderInUse) as refused:
            locks.take(str(folder), "--out", describe_process("second"))
        message = str(refused.value)
        assert message.startswith(f"--out {folder} is in use by another run (PID {process.pid}, "
                                  "started "), message
        assert message.endswith(": python -m d2l_alexnet.train --out here): wait for it to end, "
                                "or choose another --out"), message
        assert "\n" not in message
        with pytest.raises(FolderInUse, match=f"PID {process.pid}"):
            check_not_in_use(str(folder), "--checkpoint-dir")
    assert (folder / LOCK_NAME).exists()  # the refused run took nothing of the holder's


def test_a_sigkilled_holder_leaves_no_lock_that_blocks_the_next_run(holder):
    folder, process = holder
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert (folder / LOCK_NAME).exists()  # the file stays, but the kernel dropped the lock
    check_not_in_use(str(folder), "--out")
    with FolderLocks() as locks:
        locks.take(str(folder), "--out", describe_process("the next run"))
        text = (folder / LOCK_NAME).read_text()
        assert text.startswith(f"PID {os.getpid()}, started ") and text.endswith(
            ": the next run\n"), text
    assert not (folder / LOCK_NAME).exists()


def test_one_folder_under_two_flags_is_locked_once_and_released_without_a_trace(tmp_path):
    with FolderLocks() as locks:
        locks.take(str(tmp_path), "--out", "this run")
        locks.take(str(tmp_path / "."), "--checkpoint-dir", "this run")  # the same folder
        assert os.listdir(tmp_path) == [LOCK_NAME]
        with pytest.raises(FolderInUse, match=r"\(this run\)"):
            FolderLocks().take(str(tmp_path), "--out", "another")
        assert list_checkpoints(str(tmp_path)) == []  # never taken for another run's checkpoint
    assert os.listdir(tmp_path) == []
    check_not_in_use(str(tmp_path / "absent"), "--out")  # no folder, no lock: nothing to say


def test_a_command_line_with_a_name_that_is_not_utf8_is_written_as_the_bytes_it_was(tmp_path):
    """An argument in Latin-1 (a folder from an old disk) reaches Python as surrogate escapes:
    writing the command line into the lock file raised UnicodeEncodeError, and train crashed
    after reading its images, leaving an empty lock file."""
    command = "python -m d2l_alexnet.train --out " + os.fsdecode(b"ou\xfft")
    with FolderLocks() as locks:
        locks.take(str(tmp_path), "--out", command)
        assert (tmp_path / LOCK_NAME).read_bytes() == os.fsencode(command) + b"\n"
        with pytest.raises(FolderInUse, match=r"--out ou\ufffdt\)"):
            FolderLocks().take(str(tmp_path), "--out", "another")
    assert os.listdir(tmp_path) == []


def test_a_lock_file_this_user_cannot_write_is_locked_read_only(tmp_path, monkeypatch):
    (tmp_path / LOCK_NAME).write_text("PID 1, started long ago: root's killed run\n")
    real_open = os.open

    def refusing_writes(path, flags, *mode):
        if flags & (os.O_RDWR | os.O_WRONLY):  # root's file, mode 0644, or chattr +i
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *mode)

    monkeypatch.setattr(os, "open", refusing_writes)
    warnings = []
    with FolderLocks(log=warnings.append) as locks:
        locks.take(str(tmp_path), "--out", describe_process("this run"))
        monkeypatch.setattr(os, "open", real_open)
        with pytest.raises(FolderInUse):  # held all the same: flock takes a read-only file
            check_not_in_use(str(tmp_path), "--out")
    assert len(warnings) == 1 and "read-only" in warnings[0] and "\n" not in warnings[0]


def test_a_folder_named_as_the_lock_file_is_refused_in_one_line(tmp_path):
    (tmp_path / LOCK_NAME).mkdir()
    with pytest.raises(LockFileUnusable) as refused, FolderLocks() as locks:
        locks.take(str(tmp_path), "--out", "this run")
    message = refused.value.for_command_line()
    assert f"holds a folder named {LOCK_NAME}" in message and "\n" not in message, message
    assert refused.value.exit_status == 2 and isinstance(refused.value, FolderInUse)


# Another user's run in a shared folder: root's lock file (0644, or 0600) is taken or refused.
AS_ANOTHER_USER = """import os, sys
from d2l_alexnet.cli import report
from d2l_alexnet.core.lock import FolderLocks, describe_process
os.setgid(65534)
os.setuid(65534)
try:
    with FolderLocks(log=print) as locks:
        locks.take(sys.argv[1], "--out", describe_process("nobody's run"))
        print("locked")
except Exception as error:
    sys.exit(report(error, stream=sys.stdout))
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root, to run a child as another user")
def test_another_users_lock_file_is_taken_read_only_or_refused_in_one_line():
    shared = tempfile.mkdtemp(prefix="d2l-shared-")  # outside pytest's root-only tmp folders
    try:
        os.chmod(shared, 0o1777)  # world-writable and sticky, as /tmp or a lab's scratch

        def run_as_nobody():
            return subprocess.run([sys.executable, "-c", AS_ANOTHER_USER, shared], text=True,
                                  capture_output=True, env=child_env(), timeout=60)

        holder = subprocess.Popen([sys.executable, "-c", HOLDER, shared], text=True,
                                  stdout=subprocess.PIPE, env=child_env())
        try:
            assert holder.stdout.readline().strip() == "locked"
            os.chmod(os.path.join(shared, LOCK_NAME), 0o644)
            live = run_as_nobody()
            assert live.returncode == 2, live.stderr
            assert live.stdout.startswith(f"error: --out {shared} is in use by another run "
                                          f"(PID {holder.pid}, "), live.stdout
        finally:
            holder.kill()
            holder.wait()
        killed = run_as_nobody()  # root's run SIGKILLed: its file stays, unlocked
        assert killed.returncode == 0, killed.stderr
        assert killed.stdout.splitlines()[-1] == "locked" and "read-only" in killed.stdout
        os.chmod(os.path.join(shared, LOCK_NAME), 0o600)
        unreadable = run_as_nobody()
        assert unreadable.returncode == 2, unreadable.stderr
        assert unreadable.stdout.startswith(f"error: cannot open --out {shared}'s lock file "
                                            f"{LOCK_NAME} (Permission denied): "), unreadable
        assert unreadable.stdout.count("\n") == 1
    finally:
        shutil.rmtree(shared)
