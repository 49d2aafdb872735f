"""``python tests/contract/fault_launcher.py ARGS``: ``python -m d2l_alexnet.train ARGS`` with a
fault injected where the fault tests need one. The library itself carries no test hooks: this
launcher adds them from outside, through the Checkpointer's own seams (a step callback, the
``before_rename`` of the write).

The fault is named in the environment, so a resumed run started without it has none:

- ``D2L_ALEXNET_TEST_KILL_AFTER_STEP=N``: SIGKILL right after step N (and after its checkpoint,
  if one was due), as a machine that dies mid-epoch;
- ``D2L_ALEXNET_TEST_KILL_DURING_CHECKPOINT_WRITE=N``: SIGKILL while step N's checkpoint is
  written, once its temporary file is complete and before the rename;
- ``D2L_ALEXNET_TEST_SIGNAL_AFTER_STEP=N:SIGINT`` (or ``:SIGTERM``): that signal right after
  step N, as a person pressing Ctrl-C;
- ``D2L_ALEXNET_TEST_WAIT_AFTER_STEP=N:PATH``: wait after step N (and its checkpoint) until the
  file PATH exists, as a long run that another is started beside (ten minutes at most).
"""

import os
import signal
import sys
import time

KILL_AFTER_STEP = "D2L_ALEXNET_TEST_KILL_AFTER_STEP"
KILL_DURING_WRITE = "D2L_ALEXNET_TEST_KILL_DURING_CHECKPOINT_WRITE"
SIGNAL_AFTER_STEP = "D2L_ALEXNET_TEST_SIGNAL_AFTER_STEP"
WAIT_AFTER_STEP = "D2L_ALEXNET_TEST_WAIT_AFTER_STEP"


def step_from(name):
    value = os.environ.get(name)
    return int(value) if value else None


def install_faults():
    from d2l_alexnet.core import checkpoint

    kill_after, kill_during_write = step_from(KILL_AFTER_STEP), step_from(KILL_DURING_WRITE)
    signal_after = None
    if os.environ.get(SIGNAL_AFTER_STEP):
        step, name = os.environ[SIGNAL_AFTER_STEP].split(":")
        signal_after = (int(step), getattr(signal, name))
    wait_after = None
    if os.environ.get(WAIT_AFTER_STEP):
        step, path = os.environ[WAIT_AFTER_STEP].split(":", 1)
        wait_after = (int(step), path)

    attach = checkpoint.Checkpointer.attach

    def attach_with_faults(self, trainer):
        attach(self, trainer)

        def after_step(trainer):  # runs after the checkpointer's own: its checkpoint is saved
            if trainer.step == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            if signal_after is not None and trainer.step == signal_after[0]:
                os.kill(os.getpid(), signal_after[1])
            if wait_after is not None and trainer.step == wait_after[0]:
                deadline = time.monotonic() + 600
                while not os.path.exists(wait_after[1]) and time.monotonic() < deadline:
                    time.sleep(0.05)

        trainer.step_callbacks.append(after_step)
        return self

    checkpoint.Checkpointer.attach = attach_with_faults

    write = checkpoint.write_checkpoint

    def write_and_maybe_die(path, metadata, arrays, before_rename=None):
        if metadata["step"] == kill_during_write:
            def before_rename(temporary):
                os.kill(os.getpid(), signal.SIGKILL)
        return write(path, metadata, arrays, before_rename=before_rename)

    checkpoint.write_checkpoint = write_and_maybe_die


if __name__ == "__main__":
    install_faults()
    from d2l_alexnet import train

    sys.exit(train.main())
