"""Atomic writes: the finished file has the permissions the umask gives, not mkstemp's 0600; the
temporary file of a write killed before its rename is removed by the next run, and only ours."""

import os
import signal
import stat
import subprocess
import sys

import pytest

from d2l_alexnet.core import files
from repository import child_env


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_gets_what_the_umask_allows(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = tmp_path / "metrics.json"
        files.atomic_write_json(path, [1, 2])
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "[\n  1,\n  2\n]\n"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_a_write_killed_before_its_rename_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    """A real SIGKILL between the fsync and the rename (as during a run's final weights write);
    the cleaning removes what is ours, and nothing else, in one line."""
    kill = ("import os, signal, sys\n"
            "from d2l_alexnet.core import files\n"
            "files.atomic_write_bytes(sys.argv[1], b'w' * 4096, before_rename=lambda temporary:"
            " os.kill(os.getpid(), signal.SIGKILL))\n")
    result = subprocess.run([sys.executable, "-c", kill, str(tmp_path / "weights.safetensors")],
                            env=child_env())
    assert result.returncode == -signal.SIGKILL
    [left] = os.listdir(tmp_path)
    assert left.startswith(".weights.safetensors.") and left.endswith(".tmp")
    others = {".metrics.json.ab_cd123.tmp", "..write-test.q1w2e3r4.tmp"}  # ours as well
    theirs = {"weights.safetensors.bak", ".weights.safetensors.tmp", ".notes.txt.abcdefgh.tmp",
              "draft.tmp", ".weights.safetensors.abc.tmp", ".weights.safetensors.ABCDEFGH.tmp",
              ".checkpoint-3.ckpt.abcdefgh.tmp"}  # not a name this folder receives
    for name in others | theirs:
        (tmp_path / name).write_bytes(b"x")
    lines = []
    removed = files.remove_unfinished_writes(tmp_path, ("weights.safetensors", "metrics.json"),
                                             log=lines.append)
    assert removed == sorted({left} | others)
    assert set(os.listdir(tmp_path)) == theirs
    assert lines == [f"removed {', '.join(removed)} in {tmp_path}: unfinished write(s) of a run "
                     "that was killed while writing (the files they were to replace are as they "
                     "were)"]
    assert files.remove_unfinished_writes(tmp_path, ("weights.safetensors",),
                                          log=lines.append) == [] and len(lines) == 1
    assert files.remove_unfinished_writes(tmp_path / "missing", ("x",)) == []


def test_a_live_processs_writability_probe_is_not_taken_for_an_unfinished_write(tmp_path):
    """A second run proves a folder writable before it asks for its lock: the run holding the
    folder swept that probe away as a killed run's, and the second was told the folder could
    not be written instead of that it is in use."""
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    try:
        live = f".{files.WRITE_PROBE}-{alive.pid}.q1w2e3r4.tmp"
        killed = f".{files.WRITE_PROBE}-{dead}.a1s2d3f4.tmp"
        for name in (live, killed):
            (tmp_path / name).write_bytes(b"ok")
        assert files.remove_unfinished_writes(tmp_path, (), log=None) == [killed]
        assert os.listdir(tmp_path) == [live]
    finally:
        alive.kill()
        alive.wait()
