"""Where the progress is shown: a notebook is told from a terminal by its kernel's shell."""

import errno
import io
import sys

import pytest

from d2l_alexnet.core.progress import ProgressBar, in_notebook


def test_a_notebook_is_any_kernel_whose_shell_is_or_extends_ipykernels(monkeypatch):
    IPython = pytest.importorskip("IPython")

    class ZMQInteractiveShell:  # ipykernel's shell, known by its name
        pass

    class Shell(ZMQInteractiveShell):  # Google Colab's google.colab._shell.Shell extends it
        pass

    class TerminalInteractiveShell:  # ipython in a terminal: no inline figures
        pass

    for shell, expected in ((None, False), (TerminalInteractiveShell(), False),
                            (ZMQInteractiveShell(), True), (Shell(), True)):
        monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
        assert in_notebook() is expected, type(shell).__name__


class FullStream(io.StringIO):
    """A stderr on a full disk (``2>/dev/full``), as a terminal or as a log."""

    def __init__(self, terminal):
        super().__init__()
        self.terminal, self.writes = terminal, 0

    def isatty(self):
        return self.terminal

    def write(self, text):
        self.writes += 1
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("terminal", [False, True])
def test_a_bar_whose_stream_cannot_be_written_stops_drawing_not_training(terminal,
                                                                         monkeypatch):
    stream = FullStream(terminal)
    bar = ProgressBar(16, "epoch 1/1", stream=stream)
    bar.update(8, loss=2.3, force=True)  # raised the disk's OSError, ending the run
    assert stream.writes == 1
    bar.update(16, loss=2.2, force=True)
    bar.close()
    assert stream.writes == 1  # the failed write was the last it tried: it stopped drawing
    monkeypatch.setattr(sys, "stderr", None)  # what Python makes of a closed stderr (2>&-)
    bar = ProgressBar(16, "epoch 1/1")
    bar.update(16, loss=2.2, force=True)
    bar.close()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminals_bar_is_cleared_before_the_epochs_line():
    """The bar, drawn through refresh(), which tqdm does not count as printed, was never
    cleared: the epoch's line began after it, in the terminal's last column."""
    terminal = Terminal()
    bar = ProgressBar(16, "epoch 1/1", stream=terminal)
    bar.update(16, loss=2.2, force=True)  # a short epoch: within tqdm's delay of its start
    drawn = terminal.getvalue()
    assert "epoch 1/1" in drawn and "16/16" in drawn
    bar.close()
    cleared = terminal.getvalue()[len(drawn):]
    assert cleared.strip() == "" and cleared.endswith("\r") and len(cleared) > 2
