"""Localization metrics on interval sets: point-wise and affiliation precision / recall / F1.

Inputs are interval lists ``[[start, end), ...]`` on ``[0, length)`` (any order; they are clipped and merged).
Edge rules (DESIGN §4): prediction and ground truth both empty -> ``(1, 1, 1)``; exactly one empty -> ``(0, 0, 0)``.
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


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _zones(gt: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    mids = (gt[:-1, 1] + gt[1:, 0]) / 2.0
    return np.concatenate([[0.0], mids]), np.concatenate([mids, [float(length)]])


def _pieces(pred: np.ndarray, z0: np.ndarray, z1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut predicted events at zone boundaries: (zone index, piece start, piece end), in time order."""
    a, b = pred[:, 0].astype(np.float64), pred[:, 1].astype(np.float64)
    first = np.searchsorted(z1, a, side="right")  # zone holding the start
    last = np.searchsorted(z0, b, side="left") - 1  # zone holding the end (exclusive)
    count = last - first + 1
    owner = np.repeat(np.arange(len(pred)), count)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    zone = first[owner] + offset
    lo = np.maximum(a[owner], z0[zone])
    hi = np.minimum(b[owner], z1[zone])
    return zone, lo, hi


def affiliation_prf_events(pred: np.ndarray, gt: np.ndarray, length: int) -> PRF:
    """Affiliation P/R/F1 (Huet et al. 2022) of canonical events over the time range ``[0, length]``."""
    edge = _edge_case(pred, gt)
    if edge is not None:
        return edge
    n = len(gt)
    z0, z1 = _zones(gt, length)
    s_all, e_all = gt[:, 0].astype(np.float64), gt[:, 1].astype(np.float64)
    zone, lo, hi = _pieces(pred, z0, z1)
    a, b, s, e = z0[zone], z1[zone], s_all[zone], e_all[zone]
    width = b - a

    # Precision: ∫ F_p(dist(x, J)) dx with F_p(d) = (relu(s - a - d) + relu(b - e - d)) / |E|.
    def q(d):  # 2|E| * G(d) up to a constant, G the antiderivative of F_p
        return _relu(s - a - d) ** 2 + _relu(b - e - d) ** 2

    left = q(_relu(s - hi)) - q(_relu(s - lo))
    right = q(_relu(lo - e)) - q(_relu(hi - e))
    inside = _relu(np.minimum(hi, e) - np.maximum(lo, s))
    prec_num = np.bincount(zone, (left + right) / (2.0 * width) + inside, minlength=n)
    pred_len = np.bincount(zone, hi - lo, minlength=n)
    held = pred_len > 0
    precision = float((prec_num[held] / pred_len[held]).sum() / held.sum())

    # Recall: ∫_J F_y(dist(y, pieces)) dy with F_y(d) = (relu(y - d - a) + relu(b - y - d)) / |E|.
    # Each piece k owns the Voronoi cell between the midpoints to its neighbours in the same zone.
    cell_lo, cell_hi = a.copy(), b.copy()
    same = zone[1:] == zone[:-1]
    mids = (hi[:-1] + lo[1:]) / 2.0
    cell_lo[1:][same] = mids[same]
    cell_hi[:-1][same] = mids[same]
    # y in [cell_lo, lo]: nearest prediction on the right at lo -> F = (b - lo) + relu(2y - lo - a).
    y0 = np.minimum(np.maximum(cell_lo, s), e)
    y1 = np.maximum(np.minimum(lo, e), y0)
    half = (lo + a) / 2.0
    before = (b - lo) * (y1 - y0) + _relu(y1 - half) ** 2 - _relu(y0 - half) ** 2
    # y in [hi, cell_hi]: nearest prediction on the left at hi -> F = (hi - a) + relu(b + hi - 2y).
    y0 = np.minimum(np.maximum(hi, s), e)
    y1 = np.maximum(np.minimum(cell_hi, e), y0)
    half = (b + hi) / 2.0
    after = (hi - a) * (y1 - y0) + _relu(half - y0) ** 2 - _relu(half - y1) ** 2
    rec_num = np.bincount(zone, (before + after) / width + inside, minlength=n)
    recall = float((rec_num / (e_all - s_all)).sum() / n)

    precision, recall = min(max(precision, 0.0), 1.0), min(max(recall, 0.0), 1.0)
    return (precision, recall, _f1(precision, recall))


def point_prf(pred: Iterable, gt: Iterable, length: int) -> PRF:
    """Point-wise precision, recall, F1 of predicted vs ground-truth ``[start, end)`` intervals on ``length`` points."""
    return point_prf_events(as_events(pred, length), as_events(gt, length), length)


def affiliation_prf(pred: Iterable, gt: Iterable, length: int) -> PRF:
    """Affiliation precision, recall, F1 (Huet et al., KDD 2022) of ``[start, end)`` intervals over ``[0, length]``."""
    return affiliation_prf_events(as_events(pred, length), as_events(gt, length), length)
