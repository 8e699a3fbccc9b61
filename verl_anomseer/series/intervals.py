"""Anomaly interval samplers and the interval <-> mask conversions the generators share.

Intervals are ``(start, end)`` pairs, end-exclusive, sorted and disjoint; adjacent runs are merged.
"""

from __future__ import annotations

import numpy as np


def mask_to_intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """The maximal runs of ``True`` in a 1-D boolean mask, as end-exclusive ``(start, end)`` pairs."""
    padded = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(s), int(e)) for s, e in zip(edges[0::2], edges[1::2], strict=True)]


def intervals_to_mask(intervals, length: int) -> np.ndarray:
    """A boolean mask of ``length`` that is ``True`` inside the intervals."""
    mask = np.zeros(length, dtype=bool)
    for start, end in intervals:
        mask[start:end] = True
    return mask


def renewal_intervals(
    rng: np.random.Generator,
    length: int,
    gap_mean: float,
    gap_min: float,
    duration_mean: float,
    duration_min: float,
    max_intervals: int | None = 8,
) -> list[tuple[int, int]]:
    """AnomLLM's alternating renewal sampler.

    Repeatedly: a normal gap ``g = max(Exp(gap_mean), gap_min)`` then an anomaly of duration
    ``d = max(Exp(duration_mean), duration_min)``; ``start = cursor + int(g)``, ``end = min(length, start + int(d))``.
    Stops when a start falls at or past ``length`` or after ``max_intervals`` anomalies (``None``: no cap).
    With ``gap_min, duration_min >= 1`` the result is sorted, disjoint and never adjacent.
    """
    intervals: list[tuple[int, int]] = []
    cursor = 0
    while max_intervals is None or len(intervals) < max_intervals:
        gap = max(rng.exponential(gap_mean), gap_min)
        duration = max(rng.exponential(duration_mean), duration_min)
        start = cursor + int(gap)
        if start >= length:
            break
        end = min(length, start + int(duration))
        intervals.append((start, end))
        cursor = end
    return intervals
