"""Interval sets on ``[0, length)``: the one canonical form every scoring function works on.

A set of events is an ``(n, 2)`` int64 array of end-exclusive ``[start, end)`` rows, sorted, pairwise
disjoint and non-touching (``start[k+1] > end[k]``), with ``0 <= start < end <= length``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

EMPTY = np.zeros((0, 2), dtype=np.int64)


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Sort ``[start, end)`` pairs (each ``start < end``) and merge overlapping or touching ones.

    A new event begins wherever a start exceeds the running maximum of all previous ends.
    """
    if starts.size == 0:
        return EMPTY.copy()
    if (starts[1:] > ends[:-1]).all():  # already canonical (the common case): nothing to sort or merge
        return np.stack([starts, ends], axis=1).astype(np.int64, copy=False)
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e)
    new_event = np.empty(s.size, dtype=bool)
    new_event[0] = True
    new_event[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new_event)
    last = np.append(first[1:], s.size) - 1
    return np.stack([s[first], reach[last]], axis=1).astype(np.int64, copy=False)


def as_events(intervals: Iterable, length: int) -> np.ndarray:
    """Canonical events of already-valid integer intervals: clipped to ``[0, length)``, empty ones dropped, merged.

    For intervals a model wrote, use :func:`verl_anomseer.scoring.answer.parse_answer`, which also drops
    malformed items; this function assumes numbers.
    """
    arr = np.asarray(intervals, dtype=np.int64)
    if arr.size == 0:
        return EMPTY.copy()
    arr = arr.reshape(-1, 2)
    s = np.minimum(np.maximum(arr[:, 0], 0), length)
    e = np.minimum(np.maximum(arr[:, 1], 0), length)
    keep = s < e
    return merge_intervals(s[keep], e[keep])
