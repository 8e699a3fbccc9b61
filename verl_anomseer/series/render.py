"""The AnomLLM plot style, without ground truth: 10 x 1.5 in at 100 dpi, y-limits (-1, 1), one steelblue
line, matplotlib's default ticks (so x positions can be read off the axis), a tight layout (as AnomLLM's
figures, so the tick labels fit in the 150 px). Nothing but the series is drawn.

``render_png`` keeps, per thread and series length, one Agg figure whose background (layout, axes, ticks,
labels: they depend only on the length because the y-limits are fixed) is drawn once; each call restores it
and draws the line on top (the line's z-order puts it above the spines in ``plot_series`` too, so both give the same
pixels). The PNG is RGB, zlib level ``COMPRESS_LEVEL``.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

FIGSIZE = (10.0, 1.5)
DPI = 100
YLIM = (-1.0, 1.0)
COLOR = "steelblue"
LINE_ZORDER = 3  # above spines and ticks (2.5), so a blitted line equals a fully drawn one
COMPRESS_LEVEL = 3
CACHED_LENGTHS = 8  # figures kept per thread (about 0.6 MB each)


def plot_series(ax, values) -> None:
    """Draw ``values`` on ``ax`` in the AnomLLM style (the line and the fixed y-limits only)."""
    y = np.asarray(values, dtype=np.float64)
    ax.plot(np.arange(len(y)), y, color=COLOR, zorder=LINE_ZORDER)
    ax.set_ylim(*YLIM)


class _Plot:
    """The figure of one series length: its background (layout, axes, ticks) drawn once, the line blitted on top."""

    def __init__(self, length: int) -> None:
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot()
        plot_series(self.ax, np.zeros(length))
        self.figure.tight_layout()
        (self.line,) = self.ax.lines
        self.line.set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.line.set_visible(True)

    def render(self, y: np.ndarray) -> bytes:
        self.canvas.restore_region(self.background)
        self.line.set_ydata(y)
        self.ax.draw_artist(self.line)
        return _encode(self.canvas)


def _encode(canvas: FigureCanvasAgg) -> bytes:
    """The canvas's pixels as an RGB PNG (zlib level ``COMPRESS_LEVEL``)."""
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    rgba.convert("RGB").save(buf, format="png", compress_level=COMPRESS_LEVEL)
    return buf.getvalue()


_local = threading.local()


def render_png(values) -> bytes:
    """The PNG bytes (RGB, 1000 x 150) of ``values`` plotted in the AnomLLM style; ground truth is never drawn."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or y.size < 2:
        raise ValueError(f"render_png needs a 1-D series of at least 2 points; got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("render_png needs finite values")
    plots = _local.__dict__.setdefault("plots", {})
    if y.size not in plots:
        if len(plots) >= CACHED_LENGTHS:
            plots.pop(next(iter(plots)))  # the oldest length
        plots[y.size] = _Plot(y.size)
    return plots[y.size].render(y)


def render_panels_png(channels) -> bytes:
    """A multivariate series as stacked, x-aligned panels, one per channel (``channels``: ``(n_channels, rows)``).

    Each panel is the AnomLLM style above (same width, height and y-limits per panel, ``plot_series``), one
    shared x-axis whose ticks sit under the bottom panel; ground truth is never drawn. One channel gives
    exactly ``render_png``'s image.
    """
    y = np.asarray(channels, dtype=np.float64)
    if y.ndim == 1 or (y.ndim == 2 and y.shape[0] == 1):
        return render_png(y.reshape(-1))
    if y.ndim != 2 or y.shape[1] < 2:
        raise ValueError(f"render_panels_png needs a (channels, rows) array of at least 2 rows; got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("render_panels_png needs finite values")
    figure = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] * y.shape[0]), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(y.shape[0], 1, sharex=True, squeeze=False)[:, 0]
    for ax, row in zip(axes, y):
        plot_series(ax, row)
    figure.tight_layout()
    canvas.draw()
    return _encode(canvas)
