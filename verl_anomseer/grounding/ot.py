"""Optimal-transport grounding score between two token-embedding sequences (docs/grounding.md, "The score").

For response embeddings ``H_r`` (T_r, D) and reference (ExpCoT) embeddings ``H_e`` (T_e, D):

- token masses ``a = softmax(||h_t||)``, ``b = softmax(||h_s||)`` over the valid tokens;
- cost ``C_ts = clip(1 - cos(h_t, h_s), 0, 2)`` (a zero vector has cosine 0 with everything);
- ``T`` = the entropic OT plan after ``n_iter`` Sinkhorn iterations ``u = a / (K v)``, ``v = b / (K^T u)``
  from ``v = 1``, ``K = exp(-C / eps)`` (POT's solver, float64);
- ``W = <T, C>`` (transport cost, no entropy term); ``W = 1`` when either side has no tokens;
- score ``s = clip(exp(-W / tau), 0, 1)``.

The embedding functions take torch tensors (any device, any float dtype) or numpy arrays, compute in
float64 numpy on the CPU (POT's numpy backend: on CPU it is faster than its torch backend and less hurt
by busy cores) and never return NaN or inf (huge or non-finite hidden states, zero vectors, single
tokens, empty sequences).
"""

from __future__ import annotations

import math

import numpy as np
import ot as pot
import torch
from scipy.special import softmax

from verl_anomseer.validation import check_positive, check_positive_int

DEFAULT_EPS = 0.08
DEFAULT_N_ITER = 50
DEFAULT_TAU = 0.5
EMPTY_DISTANCE = 1.0
"""``W`` when the response or the reference has no valid token (the authors' rule)."""

LOG_DOMAIN_RATIO = 200.0
"""Above this ``max(C) / eps`` (``K`` entries below ``e^-200``) the plan is solved in the log domain."""

_MAX = np.finfo(np.float64).max
_TINY = 1e-150  # below this a norm may have lost precision to underflow: rescale first
_STOP_THR = 1e-9  # POT's default marginal tolerance: early stop changes the plan by < ~1e-9


def _as_embeddings(H) -> np.ndarray:
    """(T, D) float64 array; NaN -> 0, +-inf -> +-max float64."""
    if isinstance(H, torch.Tensor):
        H = H.detach().cpu()
        H = (H.float() if H.dtype == torch.bfloat16 else H).numpy()  # numpy has no bfloat16
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2:
        raise ValueError(f"token embeddings must be a 2-D (tokens, dim) array, got shape {H.shape}")
    if not np.isfinite(H).all():
        H = np.nan_to_num(H, nan=0.0, posinf=_MAX, neginf=-_MAX)
    return H


def _norms_and_directions(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row L2 norms (overflow clamped to the largest float64) and unit rows (zero rows stay zero).

    When a norm would overflow or underflow, rows are first divided by their largest absolute entry,
    so neither the norm nor the direction loses range, whatever the magnitude of the hidden states.
    """
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(H, axis=1, keepdims=True)
    if (np.isfinite(norms) & (norms > _TINY)).all():
        return norms[:, 0], H / norms
    scale = np.abs(H).max(axis=1, keepdims=True, initial=0.0)
    scaled = H / np.where(scale > 0, scale, 1.0)
    scaled_norms = np.linalg.norm(scaled, axis=1, keepdims=True)  # in [1, sqrt(D)], or 0 for a zero row
    with np.errstate(over="ignore"):
        norms = np.minimum(scale * scaled_norms, _MAX)
    return norms[:, 0], scaled / np.where(scaled_norms > 0, scaled_norms, 1.0)


def token_masses(H) -> np.ndarray:
    """``softmax(||h_t||)`` over the rows of ``H`` in float64 (max-subtracted: huge norms cannot overflow)."""
    norms, _ = _norms_and_directions(_as_embeddings(H))
    return softmax(norms)


def cosine_cost(H_r, H_e) -> np.ndarray:
    """``C_ts = clip(1 - cos(h_t, h_s), 0, 2)``, (T_r, T_e) float64; a zero vector gives cosine 0 (cost 1)."""
    _, U_r = _norms_and_directions(_as_embeddings(H_r))
    _, U_e = _norms_and_directions(_as_embeddings(H_e))
    return _cost(U_r, U_e)


def _cost(U_r: np.ndarray, U_e: np.ndarray) -> np.ndarray:
    C = U_r @ U_e.T
    np.subtract(1.0, C, out=C)
    return np.clip(C, 0.0, 2.0, out=C)


def sinkhorn_plan(a, b, C, eps: float = DEFAULT_EPS, n_iter: int = DEFAULT_N_ITER):
    """Entropic OT plan ``diag(u) K diag(v)``.

    After ``n_iter`` iterations ``u = a/(Kv)``, ``v = b/(K^T u)`` from ``v = 1``.

    ``a`` (n,), ``b`` (m,) probability vectors, ``C`` (n, m) cost; torch or numpy (the result has the
    input's type). POT's Sinkhorn-Knopp updates ``v`` first, so it is run on the transposed problem
    ``(b, a, C^T)`` to reproduce exactly the u-first order above; it stops early once the marginals are
    met to 1e-9. When ``max(C) / eps`` exceeds :data:`LOG_DOMAIN_RATIO` the same iterations run in the
    log domain (``sinkhorn_log``), which cannot underflow.
    """
    check_positive("eps", eps)
    check_positive_int("n_iter", n_iter)
    return _transposed_plan(a, b, C.T, eps, n_iter).T


def _transposed_plan(a, b, C_t, eps: float, n_iter: int):
    """``T^T`` from ``C^T``: POT's Sinkhorn-Knopp on ``(b, a, C^T)`` updates ``u`` first, as the authors do."""
    method = "sinkhorn" if float(C_t.max()) / eps <= LOG_DOMAIN_RATIO else "sinkhorn_log"
    return pot.sinkhorn(b, a, C_t, eps, method=method, numItermax=int(n_iter), stopThr=_STOP_THR, warn=False)


def ot_distance(H_r, H_e, eps: float = DEFAULT_EPS, n_iter: int = DEFAULT_N_ITER) -> float:
    """``W = <T, C>`` between the two token sequences, in ``[0, 2]``; :data:`EMPTY_DISTANCE` if one is empty."""
    check_positive("eps", eps)
    check_positive_int("n_iter", n_iter)
    H_r, H_e = _as_embeddings(H_r), _as_embeddings(H_e)
    if H_r.shape[0] == 0 or H_e.shape[0] == 0:
        return EMPTY_DISTANCE
    norms_r, U_r = _norms_and_directions(H_r)
    norms_e, U_e = _norms_and_directions(H_e)
    a, b = softmax(norms_r), softmax(norms_e)
    # Tokens whose mass underflowed to exactly 0 carry no transport; dropping them keeps 1/a finite.
    if not (a.all() and b.all()):
        keep_r, keep_e = a > 0, b > 0
        a, b, U_r, U_e = a[keep_r], b[keep_e], U_r[keep_r], U_e[keep_e]
    C_t = _cost(U_e, U_r)  # built transposed so plan and cost share one memory layout
    return float(np.clip(np.sum(_transposed_plan(a, b, C_t, eps, n_iter) * C_t), 0.0, 2.0))


def ot_score(H_r, H_e, eps: float = DEFAULT_EPS, n_iter: int = DEFAULT_N_ITER, tau: float = DEFAULT_TAU) -> float:
    """Grounding score ``s = clip(exp(-W / tau), 0, 1)`` with ``W`` from :func:`ot_distance`."""
    check_positive("tau", tau)
    return min(1.0, max(0.0, math.exp(-ot_distance(H_r, H_e, eps, n_iter) / tau)))


def cosine_score(H_r, H_e) -> float:
    """Mean-pooled alternative: ``clip(cos(mean_t h_t, mean_s h_s), 0, 1)``; 0 if a side is empty or pools to zero."""
    H_r, H_e = _as_embeddings(H_r), _as_embeddings(H_e)
    if H_r.shape[0] == 0 or H_e.shape[0] == 0:
        return 0.0
    u_r, u_e = _pooled_direction(H_r), _pooled_direction(H_e)
    return min(1.0, max(0.0, float(u_r @ u_e)))


def _pooled_direction(H: np.ndarray) -> np.ndarray:
    """Unit vector of the mean row; ``H`` is divided by its largest entry first so the mean cannot overflow."""
    scale = np.abs(H).max()
    mean = (H / scale if scale > 0 else H).mean(axis=0, keepdims=True)
    return _norms_and_directions(mean)[1][0]
