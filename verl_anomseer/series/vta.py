"""VisualTimeAnomaly-style univariate injections (Xu et al. 2025, after Lai et al. 2021), one threaded RNG.

Base signal: ``0.5 sin(2 pi 0.04 t) + N(0, 0.5/30)`` (VisualTimeAnomaly's 1.5-amplitude sine with its
signal-to-noise ratio, scaled by 1/3 to sit inside the plots' fixed y-limits (-1, 1)). Every series is anomalous:

- point-wise (``round(0.05 L)`` distinct positions):
  ``global``: the point becomes ``sign * U(0.7, 0.95)``, beyond the normal range (|base| <= ~0.55);
  ``contextual``: the point moves by ``-sign(x) * 2.5 * local std`` (radius 5), clipped to the series' own
  [min, max], so it stays in the global range but leaves its context.
- range-wise (``max(1, round(0.05 L / 10))`` windows of 10 samples, start uniform, overlaps merged):
  ``seasonal``: the window carries the base sine at 3x frequency;
  ``trend``: a ramp of ``sign * U(0.3, 0.5)`` over the window, the level shift persisting after it;
  ``shapelet``: the window carries a square wave of the base period (``scipy.signal.square``).
Finally, a series whose peak exceeds 0.95 in magnitude is scaled down to 0.95 (trend level shifts can add up).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import square

from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals
from verl_anomseer.series.taxonomy import VTA_CATEGORIES

REFERENCE_LENGTH = 400
AMPLITUDE = 0.5
FREQUENCY = 0.04
NOISE_STD = AMPLITUDE / 30
RATIO = 0.05
RADIUS = 5
PEAK = 0.95


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(0.0, NOISE_STD, n)


def _point_positions(rng: np.random.Generator, length: int) -> np.ndarray:
    return np.sort(rng.choice(length, size=max(1, round(RATIO * length)), replace=False))


def _windows(rng: np.random.Generator, length: int) -> list[tuple[int, int]]:
    count = max(1, round(RATIO * length / (2 * RADIUS)))
    width = min(2 * RADIUS, length)
    starts = rng.integers(0, length - width + 1, size=count)
    return mask_to_intervals(intervals_to_mask([(int(s), int(s) + width) for s in starts], length))


def _global(rng, t, x):
    positions = _point_positions(rng, len(x))
    signs = np.where(rng.random(len(positions)) < 0.5, -1.0, 1.0)
    x[positions] = signs * rng.uniform(0.7, PEAK, len(positions))
    return mask_to_intervals(intervals_to_mask([(int(p), int(p) + 1) for p in positions], len(x)))


def _contextual(rng, t, x):
    base = x.copy()
    positions = _point_positions(rng, len(x))
    for p in positions:
        local_std = base[max(0, p - RADIUS) : p + RADIUS].std()
        direction = -np.sign(base[p]) if base[p] != 0 else 1.0
        x[p] = np.clip(base[p] + direction * 2.5 * local_std, base.min(), base.max())
    return mask_to_intervals(intervals_to_mask([(int(p), int(p) + 1) for p in positions], len(x)))


def _seasonal(rng, t, x):
    intervals = _windows(rng, len(x))
    for start, end in intervals:
        x[start:end] = AMPLITUDE * np.sin(2 * np.pi * 3 * FREQUENCY * t[start:end]) + _noise(rng, end - start)
    return intervals


def _trend(rng, t, x):
    intervals = _windows(rng, len(x))
    for start, end in intervals:
        shift = (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(0.3, 0.5)
        x[start:end] += shift * np.arange(1, end - start + 1) / (end - start)
        x[end:] += shift
    return intervals


def _shapelet(rng, t, x):
    intervals = _windows(rng, len(x))
    for start, end in intervals:
        x[start:end] = AMPLITUDE * square(2 * np.pi * FREQUENCY * t[start:end]) + _noise(rng, end - start)
    return intervals


_INJECT = {"global": _global, "contextual": _contextual, "seasonal": _seasonal, "trend": _trend, "shapelet": _shapelet}


def generate_vta(rng: np.random.Generator, category: str, length: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(values, intervals) of one VisualTimeAnomaly-style univariate series of ``category``."""
    if category not in VTA_CATEGORIES:
        raise ValueError(f"unknown VisualTimeAnomaly category {category!r}; known: {', '.join(VTA_CATEGORIES)}")
    t = np.arange(length)
    x = AMPLITUDE * np.sin(2 * np.pi * FREQUENCY * t) + _noise(rng, length)
    intervals = _INJECT[category](rng, t, x)
    peak = np.abs(x).max()
    if peak > PEAK:
        x *= PEAK / peak
    return x, intervals
