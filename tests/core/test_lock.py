"""One run per folder (``core/lock.py``): held by a live process, refused naming it; released
by the kernel when that process is SIGKILLed."""

import os
import signal
import subprocess
import sys

import pytest

from d2l_alexnet.core.checkpoint import list_checkpoints
from d2l_alexnet.core.lock import (LOCK_NAME, FolderInUse, FolderLocks, check_not_in_use,
                                   describe_process)
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
