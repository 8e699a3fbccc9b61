"""Rendering: the AnomLLM style, and proof on the pixels that ground truth is never drawn."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from verl_anomseer.series import render
from verl_anomseer.series.generators import generate
from verl_anomseer.series.render import CACHED_LENGTHS, DPI, FIGSIZE, plot_series, render_png

WHITE = np.array([255.0, 255.0, 255.0])
STEELBLUE = np.array(to_rgb("steelblue")) * 255


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def _full_draw(values) -> tuple[np.ndarray, object]:
    """A freshly created figure drawn in one pass, plus its axes (for the data -> pixel transform)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    plot_series(ax, values)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return _decode(buf.getvalue()), ax


def _pixel(ax, x, y, height) -> tuple[int, int]:
    px, py = ax.transData.transform((x, y))
    return round(float(height - py)), round(float(px))


def test_png_is_1000_by_150_rgb_and_deterministic():
    values = generate("anomllm", "point", 4, 1).values
    png = render_png(values)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    assert image.size == (1000, 150) and image.mode == "RGB"
    assert render_png(values) == png


def test_cached_blit_equals_a_full_draw_across_lengths():
    """The per-length background cache must give exactly the pixels of a fresh figure, whatever came before."""
    for suite, category, length in [
        ("anomllm", "range", 1000),
        ("vta", "trend", 400),
        ("anomllm", "freq", 300),
        ("vta", "shapelet", 400),
    ]:
        values = generate(suite, category, 2, 5, length).values
        reference, _ = _full_draw(values)
        assert np.array_equal(_decode(render_png(values)), reference), (suite, category, length)


def test_the_figure_cache_is_bounded_and_still_exact():
    values = {n: np.linspace(-0.5, 0.5, n) for n in range(100, 100 + 3 * CACHED_LENGTHS)}
    first = {n: render_png(v) for n, v in values.items()}
    assert len(render._local.plots) == CACHED_LENGTHS
    assert all(render_png(v) == first[n] for n, v in values.items())  # evicted lengths come back identical


@pytest.mark.parametrize(
    "series",
    [
        generate("vta", "shapelet", 0, 3),
        generate("anomllm", "range", 0, 20260),  # an anomalous range series (three intervals)
        generate("anomllm", "trend", 0, 20260),
    ],
    ids=lambda s: s.category,
)
def test_no_ground_truth_shading_on_the_pixels(series):
    assert series.intervals, "the case must carry ground truth"
    values = 0.8 * series.values / max(1.0, np.abs(series.values).max())  # keep the line off the top/bottom bands
    _, ax = _full_draw(values)
    _assert_no_shading(_decode(render_png(values)), ax, series.intervals, len(values))


def test_the_pixel_check_catches_the_authors_shading():
    """The released plots shade GT with ``axvspan(alpha=0.2)``; the check above must reject such an image."""
    series = generate("vta", "shapelet", 0, 3)
    values = 0.8 * series.values
    _, ax = _full_draw(values)
    for start, end in series.intervals:
        ax.axvspan(start, end, alpha=0.2, color="steelblue")
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png")
    with pytest.raises(AssertionError):
        _assert_no_shading(_decode(buf.getvalue()), ax, series.intervals, len(values))


def _assert_no_shading(image, ax, intervals, length):
    height = image.shape[0]
    top, left = _pixel(ax, 0, 0.92, height)
    bottom, right = _pixel(ax, length - 1, -0.92, height)
    gt_columns = np.zeros(image.shape[1], dtype=bool)
    for start, end in intervals:
        gt_columns[_pixel(ax, start, 0, height)[1] : _pixel(ax, end - 1, 0, height)[1] + 1] = True
    columns = np.arange(left, right + 1)
    inside, outside = columns[gt_columns[columns]], columns[~gt_columns[columns]]
    assert inside.size and outside.size
    # 1. Bands the line never reaches (|y| ~ 0.92) are pure white, inside and outside the GT spans alike.
    for row in (top, top + 1, bottom - 1, bottom):
        assert (image[row, inside] == WHITE).all() and (image[row, outside] == WHITE).all()
    # 2. Every interior pixel is white or an antialiased blend of steelblue over white: nothing else is drawn.
    interior = image[top : bottom + 1, left : right + 1].reshape(-1, 3)
    alpha = (WHITE - interior) / (WHITE - STEELBLUE)
    assert np.allclose(alpha, alpha.mean(axis=1, keepdims=True), atol=0.03)
    # 3. Inside the GT spans the share of white background matches the rest of the plot (no tinted band).
    white = (image[top : bottom + 1] == WHITE).all(axis=2)
    assert white[:, inside].mean() > 0.75 and white[:, outside].mean() > 0.75


def test_zero_sits_mid_axis_with_fixed_y_limits():
    image = _decode(render_png(np.zeros(1000)))
    _, ax = _full_draw(np.zeros(1000))
    row, col = _pixel(ax, 500, 0.0, image.shape[0])
    assert not (image[row - 1 : row + 2, col] == WHITE).all(axis=1).all()
    assert np.allclose(ax.get_ylim(), (-1, 1))


@pytest.mark.parametrize("bad", [np.array([1.0]), np.zeros((3, 3)), np.array([0.0, np.nan, 1.0])])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError):
        render_png(bad)
