"""What a person watches while AlexNet trains: the book's ProgressBoard and an epoch bar
(tqdm)."""

from __future__ import annotations

import io
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from .errors import D2LAlexNetError
from .files import atomic_write_bytes
from .language import get_language, number, say
from .types import PathLike, user_path

if TYPE_CHECKING:  # matplotlib is imported only where a figure is drawn
    from matplotlib.figure import Figure


def in_notebook() -> bool:
    """True inside a Jupyter kernel, where figures are shown inline instead of saved only."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    # By name, so that ipykernel is not imported outside a kernel; through the class's bases,
    # for kernels whose shell subclasses ipykernel's (Google Colab's google.colab._shell.Shell).
    return shell is not None and any(cls.__name__ == "ZMQInteractiveShell"
                                     for cls in type(shell).__mro__)


class FigureError(D2LAlexNetError):
    """matplotlib cannot draw a figure here (not installed, broken, or ``MPLBACKEND`` naming
    no backend); the message names the fix. The CLIs check it before training (exit 2)."""


def figure_classes() -> tuple[Any, Any]:
    """matplotlib's ``Figure`` and its Agg canvas (no display needed), imported only when a
    figure is drawn; :class:`FigureError` naming the fix when they cannot be had."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except Exception as error:
        raise figure_error(error) from None
    return Figure, FigureCanvasAgg


def figure_error(error: Exception) -> FigureError:
    """The :class:`FigureError` for what importing or drawing with matplotlib raised."""
    backend = os.environ.get("MPLBACKEND")
    if isinstance(error, ImportError) and (error.name or "").split(".")[0] == "matplotlib":
        return FigureError("matplotlib, which draws the plots, is not installed: "
                           "pip install matplotlib")
    if backend and "backend" in str(error).lower():
        return FigureError(f"MPLBACKEND={backend} names no matplotlib backend, so no plot "
                           "can be drawn: unset MPLBACKEND (or set it to agg)")
    first_line = (str(error).strip().splitlines() or [""])[0]
    return FigureError(f"matplotlib cannot draw a figure ({type(error).__name__}: "
                       f"{first_line}): reinstall it (pip install --force-reinstall matplotlib)")


def check_can_draw() -> None:
    """Draw a tiny figure to PNG, before a run that will need one: :class:`FigureError` naming
    the fix otherwise, rather than a traceback after the hours of training."""
    Figure, FigureCanvasAgg = figure_classes()
    try:
        figure = Figure(figsize=(1, 1))
        FigureCanvasAgg(figure)
        figure.add_subplot().plot([0, 1], [0, 1])
        figure_png(figure, dpi=10)
    except Exception as error:
        raise figure_error(error) from None


def figure_png(figure: Figure, dpi: float = 110) -> bytes:
    """A matplotlib figure as PNG bytes: what notebooks display and files store, with no
    dependence on the notebook's matplotlib backend."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show_figure(figure: Figure) -> None:
    """Display ``figure`` inline when running inside a notebook."""
    if in_notebook():
        from IPython.display import Image, display

        display(Image(data=figure_png(figure)))


class ProgressBoard:
    """Plot of metrics against epochs (d2l, sec_oo-design's ``ProgressBoard``).

    Redrawn live inside a notebook; elsewhere it only collects points, and :meth:`save` writes
    the PNG (matplotlib's Agg canvas, so no display is ever needed).
    """

    def __init__(self, xlabel: str = "epoch", ylabel: str | None = None,
                 xlim: tuple[float, float] | None = None,
                 ylim: tuple[float, float] | None = None,
                 figsize: tuple[float, float] = (4.5, 3.2), live: bool | None = None) -> None:
        self.xlabel, self.ylabel, self.xlim, self.ylim = xlabel, ylabel, xlim, ylim
        self.figsize = figsize
        self.live = in_notebook() if live is None else live
        self.series: dict[str, tuple[list[float], list[float]]] = {}  # label -> ([x], [y])
        # label -> points not yet averaged into one (draw's every_n)
        self._waiting: dict[str, list[tuple[float, float]]] = {}
        self._display_handle = None

    def draw(self, x: float, y: float, label: str, every_n: int = 1) -> None:
        """Add the point ``(x, y)`` to the curve ``label``; redraw when live. With ``every_n``
        (the book's argument), points are gathered and their mean is drawn once ``every_n`` of
        them have come."""
        if every_n > 1:
            waiting = self._waiting.setdefault(label, [])
            waiting.append((float(x), float(y)))
            if len(waiting) < every_n:
                return
            x, y = (sum(values) / len(waiting) for values in zip(*waiting))
            waiting.clear()
        xs, ys = self.series.setdefault(label, ([], []))
        xs.append(float(x))
        ys.append(float(y))
        if self.live:
            self.show()

    def clear(self) -> None:
        """Forget every curve, and draw the next points in a new figure (the cell running
        then, in a notebook) rather than over the last one's."""
        self.series, self._waiting, self._display_handle = {}, {}, None

    def figure(self) -> Figure:
        Figure, FigureCanvasAgg = figure_classes()
        figure = Figure(figsize=self.figsize)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        styles = ("-", "--", "-.", ":")
        for index, (label, (xs, ys)) in enumerate(self.series.items()):
            axes.plot(xs, ys, linestyle=styles[index % len(styles)], label=label,
                      marker="o" if len(xs) == 1 else None)
        axes.set_xlabel(self.xlabel)
        if self.ylabel:
            axes.set_ylabel(self.ylabel)
        if self.xlim:
            axes.set_xlim(self.xlim)
        if self.ylim:
            axes.set_ylim(self.ylim)
        if self.series:
            axes.legend()
        axes.grid(alpha=0.3)
        if get_language() != "en":  # the ticks' numbers as the lines printed beside them: 0,5
            from matplotlib.ticker import FuncFormatter

            for axis in (axes.xaxis, axes.yaxis):
                axis.set_major_formatter(FuncFormatter(
                    # (rounded: a tick at 0 may lie at 2.8e-17)
                    lambda value, _: number(round(value, 12), None, grouped=False)))
        figure.tight_layout()
        return figure

    def png_bytes(self) -> bytes:
        return figure_png(self.figure())

    def show(self) -> None:
        from IPython.display import Image, display

        image = Image(data=self.png_bytes())
        if self._display_handle is None:
            self._display_handle = display(image, display_id=True)
        else:
            self._display_handle.update(image)

    def save(self, path: PathLike) -> None:
        """Write the figure as a PNG atomically: a crash never leaves half an image behind."""
        atomic_write_bytes(user_path(path), self.png_bytes())


class _BarStream:
    """The bar's stream: a write that fails (stderr closed, or on a full disk, ``2>/dev/full``)
    stops the bar's drawing, not the run, as the bar is not the run's output. Else the stream
    itself (``isatty``, ``fileno`` and the rest, which tqdm asks of it)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.failed = stream is None  # no stderr at all (fd 2 closed): nothing to draw on

    def write(self, text: str) -> int:
        self._write(text)
        return len(text)

    def _write(self, text: str) -> None:
        if self.failed or self.stream is None:
            return
        try:
            self.stream.write(text)
        except (OSError, ValueError):  # ValueError: a stream closed under the bar
            self.failed = True

    def flush(self) -> None:
        if self.failed or self.stream is None:
            return
        try:
            self.stream.flush()
        except (OSError, ValueError):
            self.failed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _OneLinePerUpdate(_BarStream):
    """A stream for tqdm in a log (CI, a pipe): each redraw becomes one line, not a ``\r``
    overwrite that a log keeps as one endless line; a repeat of the last line is dropped."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__(stream)
        self.last: str | None = None

    def write(self, text: str) -> int:
        for line in text.replace("\r", "\n").split("\n"):
            line = line.rstrip()
            if line and line != self.last:
                self._write(line + "\n")
                self.last = line
        return len(text)


def _bar_class():
    """tqdm's notebook widget inside Jupyter when ipywidgets is there (``tqdm.auto`` would warn
    without it), its text bar everywhere else."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm
            return tqdm
        except ImportError:
            pass
    from tqdm.std import tqdm
    return tqdm


def _is_a_terminal(stream: IO[str] | None) -> bool:
    try:
        return bool(getattr(stream, "isatty", lambda: False)())
    except ValueError:  # a closed stream
        return False


class ProgressBar:
    """An epoch's bar (tqdm): images done of the epoch's, img/s, ETA and the running loss.

    On a terminal or in a notebook it redraws in place at most every 0.2 s; in a log it writes
    a line at most every ``log_interval`` seconds, so logs stay short. Either way the epoch's
    own line follows it. The trainer asks :meth:`due` before it brings a
    loss to the host, so the bar never costs a device sync of its own.
    """

    def __init__(self, total: int | None, description: str = "", stream: IO[str] | None = None,
                 log_interval: float = 15.0, initial: int = 0) -> None:
        """``total``: images in the epoch, or ``None`` when unknown (a loader without a length);
        ``initial``: images already done (a resumed epoch)."""
        stream = stream if stream is not None else sys.stderr
        self.interactive = in_notebook() or _is_a_terminal(stream)
        self.interval = 0.2 if self.interactive else log_interval
        self.last_update = time.perf_counter()
        self.drawn: int | None = None  # the images done that the bar last showed
        # The interval is kept here, where the trainer can ask before a sync, so tqdm draws
        # only when told (and not at the start: `delay`); smoothing 0: the epoch's mean rate.
        # The rate and loss are written into the postfix here rather than by tqdm, so that
        # they follow the language's number format (the Indonesian edition's 14,1 and 2,3034).
        self.started, self.initial = time.perf_counter(), initial
        bar_format = ("{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
                      if total is not None else "{desc}: {n_fmt} [{elapsed}{postfix}]")
        self.bar = _bar_class()(total=total, initial=initial, desc=description,
                                unit=say("image_unit"), delay=self.interval, leave=False,
                                smoothing=0, bar_format=bar_format,
                                file=(_BarStream(stream) if self.interactive
                                      else _OneLinePerUpdate(stream)),
                                dynamic_ncols=self.interactive)

    def due(self) -> bool:
        """Whether enough time has passed since the last update to draw again."""
        return time.perf_counter() - self.last_update >= self.interval

    def update(self, done: int, loss: float | None = None, force: bool = False) -> None:
        """Show ``done`` images (of the epoch) and the running ``loss``; at most once per
        interval unless ``force``."""
        if not force and not self.due():
            return
        if force and done == self.drawn:  # the last step's update drew it already
            return
        self.last_update, self.drawn = time.perf_counter(), done
        seconds = max(self.last_update - self.started, 1e-9)
        rate = number((done - self.initial) / seconds, 1, grouped=False)  # as the epoch line
        postfix = f"{rate} {say('image_unit')}/s"
        if loss is not None:
            postfix += f", loss {number(loss, 4)}"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        """Remove the bar from a terminal, so the epoch's line starts where it stood."""
        if self.drawn is not None and hasattr(self.bar, "start_t"):
            # tqdm clears a bar only once its own update() has printed it (and not within its
            # delay of the start): this one draws through refresh(), which tqdm does not count.
            self.bar.last_print_t = max(self.bar.last_print_t, self.bar.start_t + self.bar.delay)
        self.bar.close()
