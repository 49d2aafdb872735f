"""One error base with an exit status, and the CLIs' one line for each kind (``cli.report``)."""

import io

import pytest

from d2l_alexnet import backends, cli
from d2l_alexnet.core.checkpoint import CheckpointError, CheckpointWriteError
from d2l_alexnet.core.data import DataError
from d2l_alexnet.core.errors import D2LAlexNetError, DeviceError, RunFailed, UsageError
from d2l_alexnet.core.module import InputShapeError
from d2l_alexnet.core.recipe import RecipeError
from d2l_alexnet.core.trainer import ReplicaError, TrainingError, TrainingInterrupted
from d2l_alexnet.core.weights import WeightsError
from d2l_alexnet.train import OutputWriteError

INPUT_TO_CHANGE = [UsageError, DeviceError, DataError, WeightsError, CheckpointError,
                   RecipeError, InputShapeError, ReplicaError, backends.BackendError]
FAILED_RUNS = [TrainingError, CheckpointWriteError, OutputWriteError]


@pytest.mark.parametrize("kind", INPUT_TO_CHANGE + FAILED_RUNS)
def test_every_error_for_a_person_has_the_one_base(kind):
    assert issubclass(kind, D2LAlexNetError)


@pytest.mark.parametrize("kind, status", [(kind, 2) for kind in INPUT_TO_CHANGE]
                         + [(kind, 1) for kind in FAILED_RUNS])
def test_report_prints_one_line_and_returns_the_status_of_the_table(kind, status):
    stream = io.StringIO()
    assert cli.report(kind("use --device cpu"), batch_size=128, stream=stream) == status
    assert stream.getvalue() == "error: use --device cpu\n"
    assert issubclass(kind, RunFailed) == (status == 1)


def test_the_older_bases_are_kept_for_callers_that_catch_them():
    assert issubclass(DeviceError, RuntimeError) and issubclass(TrainingError, RuntimeError)
    for kind in (RecipeError, InputShapeError, ReplicaError):
        assert issubclass(kind, ValueError)


def test_out_of_memory_is_one_line_with_exit_1_and_a_bug_is_left_to_its_traceback():
    stream = io.StringIO()
    assert cli.report(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), 64,
                      stream=stream) == 1
    assert stream.getvalue() == ("error: out of memory at batch size 64: use a smaller "
                                 "--batch-size (try 32)\n")
    for bug in (RuntimeError("shape mismatch"), KeyError("W"),
                TrainingInterrupted("SIGINT")):  # a stop is the CLI's to report, not an error
        assert cli.report(bug, 64, stream=stream) is None


def test_checks_refuse_in_the_flags_words(tmp_path):
    with pytest.raises(UsageError, match="--limit-val must be at least 1, got 0"):
        cli.check_counts(("--batch-size", 8), ("--limit-val", 0), ("--limit-train", None))
    with pytest.raises(UsageError, match="--resize 32 is too small for AlexNet: use at least"):
        cli.check_resize(32)
    with pytest.raises(UsageError, match="is not a readable directory"):
        cli.check_data_dir(tmp_path / "missing")
    with pytest.raises(backends.BackendError, match="pytorch"):
        backends.canonical_name("caffe")


@pytest.mark.parametrize("command", ["train", "evaluate", "bench"])
def test_the_shared_flags_are_spelled_alike_in_every_command(command, capsys):
    module = __import__(f"d2l_alexnet.{command}", fromlist=["main"])
    with pytest.raises(SystemExit):
        module.main(["--help"])
    help_text = capsys.readouterr().out
    for flag in ("--backend", "--batch-size", "--device", "--data-dir", "--limit-val"):
        assert flag in help_text, (command, flag)
    assert "one of pytorch" in help_text and "auto: a GPU when there is one" in help_text


def test_exit_status_of_a_command_run(capsys):
    import types

    args = types.SimpleNamespace(batch_size=16)

    def refuse(args):
        raise DataError("train-images-idx3-ubyte is truncated: download it again")

    def run_out_of_memory(args):
        raise MemoryError()

    def bug(args):
        raise KeyError("W")

    assert cli.exit_status_of(lambda args: 0, args) == 0
    assert cli.exit_status_of(refuse, args) == 2
    assert cli.exit_status_of(run_out_of_memory, args) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: train-images-idx3-ubyte is truncated: download it again",
        "error: out of memory at batch size 16: use a smaller --batch-size (try 8)"]
    with pytest.raises(KeyError):
        cli.exit_status_of(bug, args)
