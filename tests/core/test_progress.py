"""Where the progress is shown: a notebook is told from a terminal by its kernel's shell."""

import pytest

from d2l_alexnet.core.progress import in_notebook


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
