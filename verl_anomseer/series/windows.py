"""Long series as windows and back (no verl): window placement, plot scaling, label mapping, voting.

- Windows of ``window`` rows start at 0, ``stride``, 2 ``stride``, ...; when the grid does not reach the last row,
  one more window is aligned to the series end (it overlaps its predecessor), so every row is covered and
  every window has the same length. A series shorter than ``window`` is an error unless ``allow_short``, which
  makes it one window of its own length (no values are invented).
- Plot scaling, per channel over the whole series: ``y = PLOT_PEAK * (x - c) / h`` with ``c`` the midrange
  and ``h`` the half-range, so every window of a channel shares one scale and the series spans
  ``[-PLOT_PEAK, PLOT_PEAK]`` inside the plot's fixed y-limits (-1, 1); a constant channel plots at 0.
- Labels: a window's intervals are the label runs of its rows, minus its start (end-exclusive, window
  coordinates); adding the start back gives file rows.
- Voting: a row is anomalous when at least ``threshold`` of the windows covering it flag it.
"""

from __future__ import annotations

import numpy as np

from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals

PLOT_PEAK = 0.95
VOTE_THRESHOLD = 0.5


def window_starts(rows: int, window: int, stride: int, allow_short: bool = False) -> list[tuple[int, int]]:
    """The ``(start, end)`` rows of every window (module docstring); raises ``ValueError`` on a bad size."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be positive; got window={window}, stride={stride}")
    if rows < window:
        if not allow_short:
            raise ValueError(
                f"the series has {rows} rows, fewer than the window of {window}; lower --window "
                "or pass --allow-short to use the whole series as one shorter window"
            )
        return [(0, rows)]
    starts = list(range(0, rows - window + 1, stride))
    if starts[-1] + window < rows:
        starts.append(rows - window)
    return [(s, s + window) for s in starts]


def plot_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel midrange ``c`` and half-range ``h`` of ``values`` ``(rows, channels)`` (``h`` = 1 if constant)."""
    low, high = values.min(axis=0), values.max(axis=0)
    half = (high - low) / 2.0
    return (high + low) / 2.0, np.where(half > 0, half, 1.0)


def to_plot_range(values: np.ndarray, center: np.ndarray, half: np.ndarray) -> np.ndarray:
    """``PLOT_PEAK * (values - center) / half``: the series inside the plot's fixed y-limits."""
    return PLOT_PEAK * (values - center) / half


def window_intervals(mask: np.ndarray | None, start: int, end: int) -> list[tuple[int, int]]:
    """The label runs of rows ``[start, end)`` in window coordinates (``[]`` without labels)."""
    return [] if mask is None else mask_to_intervals(mask[start:end])


def to_rows(intervals, start: int) -> list[tuple[int, int]]:
    """Window-coordinate intervals shifted to file rows."""
    return [(int(s) + start, int(e) + start) for s, e in intervals]


def vote(rows: int, windows, threshold: float = VOTE_THRESHOLD) -> np.ndarray:
    """Rows flagged by at least ``threshold`` of the windows that cover them.

    ``windows`` yields ``(start, end, intervals)`` with ``intervals`` in window coordinates.
    """
    flags = np.zeros(rows, dtype=np.int64)
    cover = np.zeros(rows, dtype=np.int64)
    for start, end, intervals in windows:
        cover[start:end] += 1
        flags[start:end] += intervals_to_mask([(max(0, s), min(e, end - start)) for s, e in intervals], end - start)
    return (cover > 0) & (flags >= threshold * cover)
