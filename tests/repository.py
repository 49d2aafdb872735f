"""Where this checkout is, and the environment a child Python needs to import it from here."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs the training CLI with the faults its D2L_ALEXNET_TEST_* variables name (contract tests).
FAULT_LAUNCHER = os.path.join(REPO, "tests", "contract", "fault_launcher.py")


def child_env(**extra):
    """This process's environment with the checkout first on ``PYTHONPATH``, so a child Python
    imports this ``d2l_alexnet`` rather than an installed one, plus ``extra`` variables."""
    path = [REPO, os.environ.get("PYTHONPATH", "")]
    # An empty entry would put the child's working directory on its path: leave none.
    return dict(os.environ, PYTHONPATH=os.pathsep.join(part for part in path if part), **extra)
