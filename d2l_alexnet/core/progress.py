"""What a person watches while AlexNet trains: the book's ProgressBoard and a terminal bar."""

import io
import sys
import time

from .files import atomic_write_bytes


def in_notebook():
    """True inside a Jupyter kernel, where figures are shown inline instead of saved only."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def figure_png(figure, dpi=110):
    """A matplotlib figure as PNG bytes: what notebooks display and files store, with no
    dependence on the notebook's matplotlib backend."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show_figure(figure):
    """Display ``figure`` inline when running inside a notebook."""
    if in_notebook():
        from IPython.display import Image, display

        display(Image(data=figure_png(figure)))


class ProgressBoard:
    """Plot of metrics against epochs (d2l, sec_oo-design's ``ProgressBoard``).

    Redrawn live inside a notebook; elsewhere it only collects points, and :meth:`save` writes
    the PNG (matplotlib's Agg canvas, so no display is ever needed).
    """

    def __init__(self, xlabel="epoch", ylabel=None, xlim=None, ylim=None, figsize=(4.5, 3.2),
                 live=None):
        self.xlabel, self.ylabel, self.xlim, self.ylim = xlabel, ylabel, xlim, ylim
        self.figsize = figsize
        self.live = in_notebook() if live is None else live
        self.series = {}  # label -> ([x], [y])
        self._waiting = {}  # label -> points not yet averaged into one (draw's every_n)
        self._display_handle = None

    def draw(self, x, y, label, every_n=1):
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

    def figure(self):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

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
        figure.tight_layout()
        return figure

    def png_bytes(self):
        return figure_png(self.figure())

    def show(self):
        from IPython.display import Image, display

        image = Image(data=self.png_bytes())
        if self._display_handle is None:
            self._display_handle = display(image, display_id=True)
        else:
            self._display_handle.update(image)

    def save(self, path):
        """Write the figure as a PNG atomically: a crash never leaves half an image behind."""
        atomic_write_bytes(path, self.png_bytes())


def format_duration(seconds):
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressBar:
    """One-line bar with images/s and ETA.

    On a terminal it redraws in place; in a log (CI, a pipe) it writes a line at most every
    ``log_interval`` seconds so logs stay short.
    """

    def __init__(self, total, description="", stream=None, width=24, log_interval=15.0):
        """``total``: images in the epoch, or ``None`` when unknown (a loader without a length)."""
        self.total, self.description, self.width = total, description, width
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = getattr(self.stream, "isatty", lambda: False)()
        self.log_interval = log_interval
        self.start = time.perf_counter()
        self.last_draw = float("-inf")
        self.done = 0
        self.drawn = None  # the count shown by the last draw

    def due(self):
        """Whether enough time has passed since the last draw to draw again."""
        interval = 0.2 if self.interactive else self.log_interval
        return time.perf_counter() - self.last_draw >= interval

    def update(self, done, loss=None, force=False):
        if (not force and not self.due()) or (force and done == self.drawn):
            return
        self.done = self.drawn = done
        now = self.last_draw = time.perf_counter()
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.total is None:  # a loader of unknown length: no bar, no ETA
            text = f"{self.description} {done} img  {rate:,.1f} img/s"
        else:
            remaining = (self.total - done) / rate if rate > 0 else 0.0
            filled = int(self.width * done / self.total) if self.total else self.width
            bar = "#" * filled + "." * (self.width - filled)
            text = (f"{self.description} [{bar}] {done}/{self.total} img  {rate:,.1f} img/s  "
                    f"ETA {format_duration(remaining)}")
        if loss is not None:
            text += f"  loss {loss:.4f}"
        if self.interactive:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.interactive:
            self.stream.write("\r\033[K")
            self.stream.flush()
