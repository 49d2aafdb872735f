"""What the commands (``train``, ``evaluate``, ``predict``, ``bench``, ``cost``, ``filters``)
share: the flags they have in common, the checks of their values, and how an error becomes one
line and an exit status.

Exit statuses, the same in every command:

====  ===================================================================================
0     done
1     the run failed on its way (:class:`~d2l_alexnet.core.errors.RunFailed`: a diverged
      loss, a disk that filled up, a stdout that cannot be written) or ran out of memory
      (one line naming a smaller batch)
2     input to change (any other :class:`~d2l_alexnet.core.errors.D2LAlexNetError`: a flag,
      a data, weights or checkpoint file, a device that is not there); nothing is written
130   interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; 129 by SIGHUP, the terminal closing
      (``train`` saves a checkpoint first; under ``nohup`` SIGHUP is ignored)
141   the reader of stdout stopped reading (``cost | head``): a quiet end, as by SIGPIPE
====  ===================================================================================
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import os
import signal
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from typing import IO, Any, Callable

from . import __version__
from .backends import ALIASES, BACKENDS
from .core.architecture import CHAPTER_RESIZE, as_size, minimum_resize
from .core.errors import D2LAlexNetError, UsageError
from .core.files import check_writable_directory
from .core.trainer import COMPILE_MODES, DEVICES, PRECISIONS
from .core.types import PathLike, Size

# What the add_*_argument functions take: a parser, or one of its argument groups.
Arguments = argparse._ActionsContainer
# A command's body: its parsed flags in, its exit status out.
Run = Callable[[argparse.Namespace], int]

__all__ = ["UsageError", "command_parser", "add_backend_argument", "add_batch_size_argument",
           "add_compile_argument", "add_data_arguments", "add_data_on_device_argument",
           "add_device_argument",
           "add_precision_argument", "check_compile", "check_counts", "check_data_dir",
           "check_output_path", "check_resize", "check_seed", "compile_options",
           "exit_status_of", "failure_reason", "main_of", "normalized_names",
           "out_of_memory_message", "path_argument", "reordered_class_names", "report",
           "same_class_names",
           "shown_names", "stdout_failed", "stdout_watched"]


# ---- the flags every command spells the same way -------------------------------------------
def command_parser(command: str, description: str | None, **kwargs: Any,
                   ) -> argparse.ArgumentParser:
    """The parser of ``python -m d2l_alexnet.<command>``, with ``--version`` like every other.
    Every command makes one first, so here its output is also made safe to print anywhere."""
    print_anywhere()
    parser = CommandParser(prog=f"python -m d2l_alexnet.{command}", description=description,
                           **kwargs)
    parser.add_argument("--version", action="version",
                        version=f"d2l-alexnet {__version__} ({command})")
    return parser


class CommandParser(argparse.ArgumentParser):
    """argparse's parser, except that ``--help`` or ``--version`` text that stdout cannot take
    ends the command as any failed write to stdout does (:func:`stdout_failed`): argparse
    drops the error, so the text was lost with exit status 0."""

    def _print_message(self, message: str, file: Any = None) -> None:
        if not message or (file or sys.stderr) is not sys.stdout:
            super()._print_message(message, file)
            return
        try:
            sys.stdout.write(message)
            sys.stdout.flush()
        except OSError as error:
            self.exit(stdout_failed(error))


def printed(text: str) -> int:
    """Print ``text`` on stdout: 0, or where stdout cannot take it, :func:`stdout_failed`'s."""
    try:
        print(text)
        sys.stdout.flush()
    except OSError as error:
        return stdout_failed(error)
    return 0


def print_anywhere() -> None:
    """Let stdout and stderr write what their encoding lacks as escapes (``\\xd7`` for ×)
    rather than fail: a terminal or log set to ASCII (the C locale with UTF-8 mode off, whose
    streams fail on any character beyond ASCII) would otherwise stop a command with a
    ``UnicodeEncodeError`` at its first ``67×67``. And flush stdout at every line, as a
    terminal does: a log file or a pipe (``| tee``) then shows each epoch as it ends, in order
    with stderr's lines, rather than all of them when the command exits."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # a replaced stream may lack it
        if reconfigure is None:
            continue
        if getattr(stream, "errors", None) in ("strict", "surrogateescape", "backslashreplace"):
            reconfigure(errors=ESCAPE_ERRORS)
        if stream is sys.stdout:
            reconfigure(line_buffering=True)
    keep_streams_usable()


def keep_streams_usable() -> None:
    """Streams started closed (``>&-``, ``2>&-``) or on a full disk (``2>/dev/full``): their
    file descriptors are pointed at /dev/null, so no file the run opens takes descriptor 1 or
    2, where a framework's C code writes its messages; a closed stdout fails at its first
    write (:class:`ClosedStdout`), as one on a full disk does; and a stderr that cannot be
    written loses its messages without ending the command (:class:`QuietStderr`)."""
    for descriptor in (1, 2):
        try:
            os.fstat(descriptor)
        except OSError:  # closed
            nowhere = os.open(os.devnull, os.O_WRONLY)  # takes the lowest free descriptor
            if nowhere != descriptor:
                os.dup2(nowhere, descriptor)
                os.close(nowhere)
    if sys.stdout is None:  # what Python makes of a closed stdout, where print prints nothing
        sys.stdout = ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    if not isinstance(sys.stderr, QuietStderr):
        sys.stderr = QuietStderr(sys.stderr)


def forget_a_closed_terminal() -> None:
    """Point stdout and stderr at /dev/null where they were on a terminal that has hung up
    (closed: a lost SSH connection, whose SIGHUP is on its way to the command). Each write to
    it fails (EIO), and a failed stdout would end the run as a failure (exit 1) before it
    reached the step where the SIGHUP stops it with a checkpoint (exit 129). A stream sent to
    a file or a pipe, or to a terminal still open (``kill -HUP`` by hand), is kept."""
    import termios  # (POSIX only, as SIGHUP is)

    for descriptor in (1, 2):
        try:
            termios.tcgetattr(descriptor)
            continue  # a terminal still open
        except termios.error as error:
            if error.args[0] != errno.EIO:  # ENOTTY: a file or a pipe
                continue
        nowhere = os.open(os.devnull, os.O_WRONLY)
        os.dup2(nowhere, descriptor)
        os.close(nowhere)


class ClosedStdout:
    """``sys.stdout`` of a command started with stdout closed: its writes fail as on a full
    disk (so the command ends in :func:`stdout_failed`'s one line, exit 1, rather than with an
    ``AttributeError`` of ``None``, or exit 0 having printed nothing), until that is said."""

    encoding, errors = "utf-8", "strict"

    def __init__(self) -> None:
        self.said = False

    def write(self, text: str) -> int:
        if self.said:
            return len(text)
        raise OSError(errno.EBADF, "it is closed")

    def flush(self) -> None:
        pass  # nothing is held to flush, and Python flushes stdout once more at its exit

    def isatty(self) -> bool:
        return False


class QuietStderr:
    """``sys.stderr``, with a write or flush that fails (closed under the command, or on a full
    disk, ``2>/dev/full``) dropped: there is no other place to say so, and the exit status
    still tells how the command ended (``--epochs 0 2>/dev/full``: 2, not a traceback's 1)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            self.stream.write(text)
        except (OSError, ValueError):  # ValueError: a closed file
            pass
        return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


# The error handler print_anywhere gives the streams (registered below, under this name).
ESCAPE_ERRORS = "d2l_alexnet.escape"


def escaped(error: UnicodeError) -> tuple[bytes, int]:
    """What a stream writes for the characters its encoding lacks: a file name's bytes that
    Python read as surrogates (``surrogateescape``: undecodable in the C locale) as those
    bytes again, so ``ünï code.png`` prints as it is named; any other character as its escape
    (``\\xd7``, as ``backslashreplace`` writes it)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    written = bytearray()
    for character in error.object[error.start:error.end]:
        if 0xDC80 <= ord(character) <= 0xDCFF:
            written.append(ord(character) - 0xDC00)
        else:
            written += character.encode("ascii", "backslashreplace")
    return bytes(written), error.end


codecs.register_error(ESCAPE_ERRORS, escaped)


def path_argument(text: str) -> str:
    """The ``type=`` of every flag that names a file or folder: ``~`` and ``~/...`` expanded to
    the home folder. The shell leaves a ``~`` after ``--flag=`` as it is, so ``--out=~/runs``
    would otherwise write into a folder named ``~`` here (which ``rm -rf ~`` then mistakes for
    home). Where no home is known (``HOME`` unset, no passwd entry), refused rather than taken
    literally; ``~name`` of no such user stays a name, as the shell leaves it."""
    expanded = os.path.expanduser(text)
    if expanded == text and (text == "~" or text.startswith("~" + os.sep)):
        raise argparse.ArgumentTypeError(
            f"cannot expand ~ in {text}: HOME is not set and this user has no home folder; "
            "give the full path (./~ for a folder named ~ here)")
    return expanded


def add_backend_argument(parser: Arguments) -> None:
    parser.add_argument("--backend", default="pytorch",
                        help=f"one of {', '.join(BACKENDS)} (aliases: {', '.join(ALIASES)})")


def add_batch_size_argument(parser: Arguments, default: int = 128) -> None:
    parser.add_argument("--batch-size", type=int, default=default, help="images per step")


def add_device_argument(parser: Arguments) -> None:
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: a GPU when there is one")


# --data-on-device's choices -> Trainer(data_on_device=...).
DATA_ON_DEVICE = {"auto": None, "on": True, "off": False}


def add_data_on_device_argument(parser: Arguments) -> None:
    parser.add_argument("--data-on-device", choices=DATA_ON_DEVICE, default="auto",
                        help="keep the images on the device and gather each batch there "
                             "(PyTorch, JAX); auto: on a GPU with one device, without "
                             "--augment")


def add_precision_argument(parser: Arguments) -> None:
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: mixed precision where the backend supports it")


def add_compile_argument(parser: Arguments) -> None:
    """``--compile [MODE]``: ``True`` when given alone, the mode's name when named."""
    parser.add_argument("--compile", nargs="?", const=True, default=False, choices=COMPILE_MODES,
                        metavar="MODE",
                        help="PyTorch: run the training and evaluation steps through "
                             "torch.compile, in MODE (one of " + ", ".join(COMPILE_MODES)
                             + "; default: reduce-overhead, CUDA graphs, on a GPU, default on "
                             "the CPU)")


def add_data_arguments(parser: Arguments, limit_train: bool = True) -> None:
    """``--data-dir`` and ``--limit-val`` (and ``--limit-train``) on ``parser`` or a group; a
    command without ``limit_train`` reads the validation (t10k) files only."""
    files = ("the four Fashion-MNIST IDX files" if limit_train else
             "Fashion-MNIST's validation (t10k) IDX files, the training ones too or not")
    parser.add_argument("--data-dir", type=path_argument, default=None,
                        help=f"directory with {files} (.gz or raw)")
    if limit_train:
        parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                            help="use only the first N training images")
    parser.add_argument("--limit-val", type=int, default=None, metavar="N",
                        help="use only the first N validation images")


# ---- checks, before any framework is imported ------------------------------------------------
def check_counts(*flags_and_values: tuple[str, int | None]) -> None:
    """Each ``(flag, value)`` must be at least 1 (``None``: not given)."""
    for flag, value in flags_and_values:
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")


# Every framework's seeding (and numpy's legacy one) takes a seed in 0..2**32 - 1.
SEED_LIMIT = 2**32


def check_seed(seed: int | None) -> None:
    """``--seed`` (``None``: not given) must be one that every framework takes."""
    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"--seed must be a whole number from 0 to {SEED_LIMIT - 1}, got {seed}")


def check_compile(compile: bool | str, backend: str) -> None:
    """``--compile`` is PyTorch's ``torch.compile``: refused for another ``backend``."""
    if compile and backend != "pytorch":
        raise UsageError(f"--compile runs PyTorch's steps through torch.compile: the {backend} "
                         "backend has no such option; drop --compile, or use --backend pytorch")


def compile_options(compile: bool | str) -> dict[str, bool | str]:
    """The Trainer's keyword for ``--compile``: none when it is off, as only PyTorch's
    Trainer takes ``compile=``."""
    return {"compile": compile} if compile else {}


def check_resize(resize: Size) -> None:
    """``resize``: the flag's side, or the (height, width) a weights file was saved for."""
    if min(as_size(resize)) < minimum_resize():
        raise UsageError(f"--resize {resize} is too small for AlexNet: use at least "
                         f"{minimum_resize()} (the chapter uses {CHAPTER_RESIZE})")


def check_data_dir(data_dir: PathLike | None) -> None:
    if data_dir is not None and not os.path.isdir(data_dir):
        raise UsageError(f"--data-dir {data_dir} is not a readable directory: point it at "
                         "the folder holding the Fashion-MNIST files")


def check_output_path(flag: str, path: PathLike, is_file: bool = False) -> list[str]:
    """Before any work: create the folder ``flag`` writes to (``path``, or with ``is_file`` the
    folder holding the file ``path``) and prove a file can be written there; returns the
    folders it created (for the caller to remove if a later check refuses the run). Exit 2
    with one line otherwise, leaving nothing behind."""
    if is_file and os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a directory: name a file (in it, say)")
    folder = (os.path.dirname(path) or os.curdir) if is_file else path
    try:
        if os.path.exists(folder) and not os.path.isdir(folder):  # else: "File exists"
            raise NotADirectoryError(errno.ENOTDIR, f"{folder} is a file, not a folder")
        return check_writable_directory(folder)
    except OSError as error:
        raise UsageError(f"cannot write to {flag} {path} ({error.strerror or error}): choose a "
                         f"writable {'place' if is_file else 'directory'}") from None


# ---- class names, as a weights file and a folder give them ---------------------------------
SHOWN_NAMES = 6  # class names listed in one message; the rest are counted


def shown_names(names: Sequence[str]) -> str:
    """``"cat, dog"``; a long list cut after a few names, the rest counted."""
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def normalized_names(names: Sequence[str]) -> list[str]:
    """``names`` in Unicode's NFC form: a folder on macOS gives its names decomposed (NFD),
    which look the same as the composed names a file written elsewhere holds."""
    return [unicodedata.normalize("NFC", name) for name in names]


def same_class_names(names: Sequence[str], others: Sequence[str]) -> bool:
    """Whether two lists name the same classes in the same order, as people read them."""
    return normalized_names(names) == normalized_names(others)


def reordered_class_names(names: Sequence[str], others: Sequence[str]) -> bool:
    """Whether two lists name the same classes in another order (a classifier's last layer
    answers in its file's order, so read in the other it names the wrong classes)."""
    return (not same_class_names(names, others)
            and sorted(normalized_names(names)) == sorted(normalized_names(others)))


# ---- errors as one line ----------------------------------------------------------------------
OUT_OF_MEMORY_MARKERS = ("out of memory", "outofmemory", "resource_exhausted",
                         "resourceexhausted", "oom when allocating", "can't allocate memory",
                         "failed to allocate cpu memory", "cudamalloc", "status_alloc_failed",
                         "cudaerrormemoryallocation")


def failure_reason(error: OSError) -> str:
    """Why a write failed, in words: a full disk said plainly."""
    return "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))


def out_of_memory_message(error: BaseException, batch_size: int | None) -> str | None:
    """The one line for a framework's out-of-memory error, or ``None`` for other errors (each
    framework has its own class, so the message is what tells)."""
    text = f"{type(error).__name__}: {error}".lower()
    if not (isinstance(error, MemoryError) or any(marker in text
                                                  for marker in OUT_OF_MEMORY_MARKERS)):
        return None
    if batch_size is not None and batch_size > 1:
        return (f"out of memory at batch size {batch_size}: use a smaller --batch-size "
                f"(try {max(1, batch_size // 2)})")
    return ("out of memory even at batch size 1: use a smaller --resize, or --device cpu if "
            "the GPU is the one out of memory")


def report(error: BaseException, batch_size: int | None = None,
           stream: IO[str] | None = None) -> int | None:
    """Print ``error`` as the one ``error: ...`` line and return the exit status (the table
    above), or return ``None`` for an error that is not for a person to act on (a bug: the
    caller lets its traceback show)."""
    message: str | None
    if isinstance(error, D2LAlexNetError):
        message, status = error.for_command_line(), error.exit_status
    else:
        message, status = out_of_memory_message(error, batch_size), 1
        if message is None:
            return None
    print(f"error: {message}", file=stream if stream is not None else sys.stderr)
    return status


def main_of(parser: argparse.ArgumentParser, run: Run,
            argv: Sequence[str] | None = None) -> int:
    """A command's ``main``: parse ``argv`` with ``parser``, then :func:`exit_status_of`
    ``run``; Ctrl-C exits 130 in one line (``evaluate``'s and ``predict``'s, which save
    nothing to resume)."""
    args = parser.parse_args(argv)
    try:
        return exit_status_of(run, args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def exit_status_of(run: Run, args: argparse.Namespace) -> int:
    """``run(args)``'s exit status: what it returns, or, for one of our errors or an out of
    memory, the status of the table after its one line; a stdout that cannot be written ends
    it as :func:`stdout_failed` says. Anything else propagates: a bug shows its traceback, and
    a stop (``train``'s signals) is the caller's to report."""
    with stdout_watched():
        try:
            check_current_folder()
            return run(args)
        except Exception as error:
            if isinstance(error, OSError) and getattr(error, STDOUT_MARK, False):
                return stdout_failed(error)
            status = report(error, getattr(args, "batch_size", None))
            if status is None:
                raise
            return status


def check_current_folder() -> None:
    """Refuse in one line to start in a folder removed under the shell: each relative path (the
    default ``--out`` too) would fail on its own, in a traceback, and PyTorch's oneMKL aborts."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError("the current folder no longer exists (it was removed while the shell "
                         "was in it): cd into one that does, and run the command again") from None


# Set on an OSError raised by a write to stdout, so that it is told from any other.
STDOUT_MARK = "d2l_alexnet_from_stdout"


class MarkingStream:
    """``stream`` (stdout), with the OSError of a write or flush marked as stdout's."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as error:
            setattr(error, STDOUT_MARK, True)
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as error:
            setattr(error, STDOUT_MARK, True)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def stdout_watched() -> Iterator[None]:
    """Within it, an error in writing to stdout is marked as such (:class:`MarkingStream`)."""
    if isinstance(sys.stdout, MarkingStream):  # a command run inside another's watch
        yield
        return
    watched = sys.stdout = MarkingStream(sys.stdout)
    try:
        yield
    finally:
        if sys.stdout is watched:  # not replaced meanwhile (redirect_stdout restores its own)
            sys.stdout = watched.stream


def stdout_failed(error: OSError, what: str = "") -> int:
    """The end of a command whose stdout could not be written: quiet, 141 (128 + SIGPIPE),
    when its reader stopped reading (``| head -1``); else one line, 1 (a full disk), naming
    ``what`` it was writing if given. Later writes, the interpreter's last flush among them,
    go nowhere rather than fail again."""
    stream = sys.stdout.stream if isinstance(sys.stdout, MarkingStream) else sys.stdout
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):  # a stream without a file: nothing to flush
        pass
    if isinstance(stream, ClosedStdout):
        stream.said = True
    if isinstance(error, BrokenPipeError):
        return 128 + signal.SIGPIPE
    print(f"error: cannot write {what + ' ' if what else ''}to stdout "
          f"({failure_reason(error)})", file=sys.stderr)
    return 1
