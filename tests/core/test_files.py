"""Atomic writes: the finished file has the permissions the umask gives, not mkstemp's 0600."""

import os
import stat

import pytest

from d2l_alexnet.core import files


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
