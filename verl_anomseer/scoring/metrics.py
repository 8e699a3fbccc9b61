"""Localization metrics on interval sets: point-wise and affiliation precision / recall / F1.

Inputs are interval lists ``[[start, end), ...]`` on ``[0, length)`` (any order; they are clipped and merged).
Edge rules (docs/scoring.md, "Metrics"): prediction and ground truth both empty -> ``(1, 1, 1)``; exactly one
empty -> ``(0, 0, 0)``.
Every value is a float in ``[0, 1]``, never NaN.

Affiliation metrics follow Huet, Navarro & Rossi, "Local Evaluation of Time Series Anomaly Detection
Algorithms", KDD 2022, on the time range ``[0, length]``:

- zone ``E_j = [z0_j, z1_j]``: the points closer to ground-truth event ``J_j = [s_j, e_j]`` than to any other
  (boundaries at the midpoints between consecutive events, the range ends outside);
- precision of zone ``j`` = mean over predicted points ``x`` in ``E_j`` of ``P(dist(X, J_j) >= dist(x, J_j))``,
  ``X ~ U(E_j)``; recall of zone ``j`` = mean over ``y`` in ``J_j`` of ``P(|X - y| >= dist(y, pred ∩ E_j))``;
- precision = mean over zones holding predictions; recall = mean over all zones; F1 = 2PR / (P + R).

Both survival functions are piecewise linear in the distance, so every integral has a closed form
(``∫ relu(c - 2y) dy = -relu(c/2 - y)^2``); the code integrates whole pieces at once, with no per-point loop.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from verl_anomseer.scoring.intervals import as_events
from verl_anomseer.series.intervals import intervals_to_mask as to_mask

PRF = tuple[float, float, float]


def _f1(p: float, r: float) -> float:
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


def _edge_case(pred: np.ndarray, gt: np.ndarray) -> PRF | None:
    if len(pred) == 0 and len(gt) == 0:
        return (1.0, 1.0, 1.0)
    if len(pred) == 0 or len(gt) == 0:
        return (0.0, 0.0, 0.0)
    return None


def point_prf_events(pred: np.ndarray, gt: np.ndarray, length: int) -> PRF:
    """Point-wise P/R/F1 of canonical events (see :mod:`verl_anomseer.scoring.intervals`) over ``length`` points."""
    edge = _edge_case(pred, gt)
    if edge is not None:
        return edge
    tp = float(np.count_nonzero(to_mask(pred, length) & to_mask(gt, length)))
    n_pred = float((pred[:, 1] - pred[:, 0]).sum())
    n_gt = float((gt[:, 1] - gt[:, 0]).sum())
    p, r = tp / n_pred, tp / n_gt
    return (p, r, _f1(p, r))


_SIGNS = np.array([1.0, -1.0, 1.0, -1.0])


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _pieces(pred: np.ndarray, z0: np.ndarray, z1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut predicted events at zone boundaries: (zone index, piece start, piece end), in time order."""
    p = pred.astype(np.float64)
    a, b = p[:, 0], p[:, 1]
    first = np.searchsorted(z1, a, side="right")  # zone holding the start
    last = np.searchsorted(z0, b, side="left") - 1  # zone holding the end (exclusive)
    if (first == last).all():  # the common case: no event crosses a zone boundary
        return first, a, b
    count = last - first + 1
    owner = np.repeat(np.arange(len(pred)), count)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    zone = first[owner] + offset
    return zone, np.maximum(a[owner], z0[zone]), np.minimum(b[owner], z1[zone])


def _precision_integrals(zone, lo, hi, a, b, s, e, inside, n: int) -> np.ndarray:
    """Per zone j: ``∫_{pred ∩ E_j} F_p(dist(x, J_j)) dx``, the numerator of the zone's precision.

    ``F_p(d) = (relu(s - a - d) + relu(b - e - d)) / |E|`` (the share of ``E = [a, b]`` at least ``d`` from
    ``J = [s, e]``), antiderivative ``-(relu(s - a - d)^2 + relu(b - e - d)^2) / (2|E|)``; a piece ``[lo, hi]``
    left of J spans the distances ``[relu(s - hi), relu(s - lo)]``, right of J ``[relu(lo - e), relu(hi - e)]``,
    and its part ``inside`` J has distance 0 (F_p = 1)."""
    d = _relu(np.stack([s - hi, s - lo, lo - e, hi - e]))
    q = _relu((s - a) - d) ** 2 + _relu((b - e) - d) ** 2
    return np.bincount(zone, (_SIGNS @ q) / (2.0 * (b - a)) + inside, minlength=n)


def _recall_integrals(zone, lo, hi, a, b, s, e, inside, n: int) -> np.ndarray:
    """Per zone j: ``∫_{J_j} F_y(dist(y, pred ∩ E_j)) dy``, the numerator of the zone's recall.

    ``F_y(d) = (relu(y - d - a) + relu(b - y - d)) / |E|``. Each piece owns the Voronoi cell between the
    midpoints to its neighbours in the same zone: in the cell's part left of the piece the nearest prediction is
    ``lo`` (``|E| F = (b - lo) + relu(2y - lo - a)``), right of it ``hi`` (``|E| F = (hi - a) + relu(b + hi -
    2y)``), with ``∫ relu(2y - c) dy = relu(y - c/2)^2`` and ``∫ relu(c - 2y) dy = -relu(c/2 - y)^2``."""
    cell_lo, cell_hi = a, b
    same = zone[1:] == zone[:-1]
    if same.any():
        between = (hi[:-1] + lo[1:]) / 2.0
        cell_lo, cell_hi = a.copy(), b.copy()
        cell_lo[1:][same] = between[same]
        cell_hi[:-1][same] = between[same]
    # Clipping to J keeps the order cell_lo <= lo <= hi <= cell_hi, so y0b <= y1b <= y0a <= y1a.
    y0b, y1b, y0a, y1a = np.minimum(np.maximum(np.stack([cell_lo, lo, hi, cell_hi]), s), e)
    hb, ha = (lo + a) / 2.0, (b + hi) / 2.0
    sq = _relu(np.stack([y1b - hb, y0b - hb, ha - y0a, ha - y1a])) ** 2
    linear = (b - lo) * (y1b - y0b) + (hi - a) * (y1a - y0a)
    return np.bincount(zone, (linear + _SIGNS @ sq) / (b - a) + inside, minlength=n)


def affiliation_prf_events(pred: np.ndarray, gt: np.ndarray, length: int) -> PRF:
    """Affiliation P/R/F1 (Huet et al. 2022) of canonical events over the time range ``[0, length]``:
    precision = mean over zones holding predictions of ``∫ F_p / |pred ∩ E_j|``, recall = mean over all zones
    of ``∫ F_y / |J_j|``."""
    edge = _edge_case(pred, gt)
    if edge is not None:
        return edge
    n = len(gt)
    g = gt.astype(np.float64)
    mids = (g[:-1, 1] + g[1:, 0]) / 2.0
    table = np.stack([np.append(0.0, mids), np.append(mids, float(length)), g[:, 0], g[:, 1]])
    zone, lo, hi = _pieces(pred, table[0], table[1])
    a, b, s, e = table[:, zone]  # per piece: its zone E = [a, b] and ground-truth event J = [s, e]
    inside = _relu(np.minimum(hi, e) - np.maximum(lo, s))
    pieces = (zone, lo, hi, a, b, s, e, inside, n)

    pred_len = np.bincount(zone, hi - lo, minlength=n)
    held = pred_len > 0
    precision = float((_precision_integrals(*pieces)[held] / pred_len[held]).sum() / held.sum())
    recall = float((_recall_integrals(*pieces) / (g[:, 1] - g[:, 0])).sum() / n)

    precision, recall = min(max(precision, 0.0), 1.0), min(max(recall, 0.0), 1.0)
    return (precision, recall, _f1(precision, recall))


def point_prf(pred: Iterable, gt: Iterable, length: int) -> PRF:
    """Point-wise precision, recall, F1 of predicted vs ground-truth ``[start, end)`` intervals on ``length`` points."""
    return point_prf_events(as_events(pred, length), as_events(gt, length), length)


def affiliation_prf(pred: Iterable, gt: Iterable, length: int) -> PRF:
    """Affiliation precision, recall, F1 (Huet et al., KDD 2022) of ``[start, end)`` intervals over ``[0, length]``."""
    return affiliation_prf_events(as_events(pred, length), as_events(gt, length), length)
