"""The OT grounding score for many (response, reference) pairs at once, in torch, on the tensors' device.

Same formula as :mod:`verl_anomseer.grounding.ot` (which runs one pair in numpy through POT), batched so that a
worker holding the hidden states on its accelerator ships one number per response:

- token masses ``a = softmax(||h_t||)``, ``b = softmax(||h_s||)`` over each side's tokens;
- cost ``C_ts = clip(1 - cos(h_t, h_s), 0, 2)`` (a zero vector has cosine 0 with everything);
- ``T = diag(u) K diag(v)``, ``K = exp(-C / eps)``, after ``n_iter`` iterations ``u = a / (K v)``,
  ``v = b / (K^T u)`` from ``v = 1`` (the log-domain form of the same iterations when ``max(C) / eps`` is too
  large for ``K`` to be represented);
- ``W = <T, C>``, ``W = 1`` when a side has no token; ``s = clip(exp(-W / tau), 0, 1)``.

Pairs are padded to the longest sequence of their chunk with zero-mass tokens, which carry no transport, and
processed in chunks of at most ``chunk_elements`` cost entries. The masses are computed in float64; the directions,
the cost and the Sinkhorn iterations in the input's float precision (float32 for half-precision inputs: W then
agrees with the float64 value to ~1e-6), and the iterations stop early, as POT's, once the marginals are met to
1e-9. Non-finite or huge hidden states never give NaN or inf. No verl import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from verl_anomseer.grounding.ot import DEFAULT_EPS, DEFAULT_N_ITER, DEFAULT_TAU, EMPTY_DISTANCE, LOG_DOMAIN_RATIO
from verl_anomseer.validation import check_positive, check_positive_int

STOP_THR = 1e-9
"""Marginal tolerance for stopping early (POT's default): the plan then moves by less than this."""

CHUNK_ELEMENTS = 1 << 25
"""Cost entries (pairs x T_r x T_e) per chunk: 256 MiB of float64 plan and cost together."""


@dataclass(frozen=True)
class BatchedOT:
    """Per-pair results: ``distance`` W, ``score`` s, and the entropies (nats) of the two mass vectors."""

    distance: torch.Tensor
    score: torch.Tensor
    entropy_response: torch.Tensor
    entropy_reference: torch.Tensor


def _compute_dtype(H: torch.Tensor) -> torch.dtype:
    return torch.float64 if H.dtype == torch.float64 else torch.float32


def norms_and_directions(H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row norms (float64, clamped to the largest finite value) and unit rows of ``H`` (..., T, D).

    NaN becomes 0 and +-inf the largest finite value; rows whose norm could overflow or underflow are divided by
    their largest absolute entry first, so neither the norm nor the direction loses range whatever the
    magnitude (ordinary rows take the direct path). Zero rows stay zero.
    """
    dtype = _compute_dtype(H)
    H = H.to(dtype)
    scale = H.abs().amax(dim=-1, keepdim=True)
    info = torch.finfo(dtype)
    safe = torch.isfinite(scale) & ((scale == 0) | ((scale > info.tiny**0.25) & (scale < info.max**0.25)))
    if bool(safe.all()):  # no entry can overflow or underflow when squared and summed
        norm = torch.linalg.vector_norm(H, dim=-1, keepdim=True)
        return norm.double().squeeze(-1), H / torch.where(norm > 0, norm, torch.ones_like(norm))
    H = torch.nan_to_num(H)
    scale = H.abs().amax(dim=-1, keepdim=True)
    scaled = H / torch.where(scale > 0, scale, torch.ones_like(scale))
    scaled_norm = torch.linalg.vector_norm(scaled, dim=-1, keepdim=True)
    directions = scaled / torch.where(scaled_norm > 0, scaled_norm, torch.ones_like(scaled_norm))
    norms = (scale.double() * scaled_norm.double()).squeeze(-1)
    return norms.clamp(max=torch.finfo(torch.float64).max), directions


def masked_softmax(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Softmax over the ``valid`` entries of the last axis (float64); invalid entries and empty rows get 0."""
    logits = torch.where(valid, values.double(), -math.inf)
    top = logits.amax(dim=-1, keepdim=True)
    weights = torch.where(valid, torch.exp(logits - torch.where(torch.isfinite(top), top, 0.0)), 0.0)
    total = weights.sum(dim=-1, keepdim=True)
    return weights / torch.where(total > 0, total, 1.0)


def mass_entropy(masses: torch.Tensor) -> torch.Tensor:
    """``-sum p log p`` over the last axis (0 log 0 = 0)."""
    return -(masses * torch.log(torch.where(masses > 0, masses, 1.0))).sum(dim=-1)


def _pad(
    sequences: Sequence[torch.Tensor], device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, T_max, D) zero-padded stack and its (P, T_max) validity mask."""
    longest = max(1, max(int(h.shape[0]) for h in sequences))
    dim = int(sequences[0].shape[1])
    out = torch.zeros(len(sequences), longest, dim, dtype=dtype, device=device)
    valid = torch.zeros(len(sequences), longest, dtype=torch.bool, device=device)
    for i, h in enumerate(sequences):
        out[i, : h.shape[0]] = h.to(device=device, dtype=dtype)
        valid[i, : h.shape[0]] = True
    return out, valid


def sinkhorn_plans(
    a: torch.Tensor, b: torch.Tensor, C: torch.Tensor, eps: float, n_iter: int, stop_thr: float = STOP_THR
) -> torch.Tensor:
    """Entropic plans (P, n, m) for masses a (P, n), b (P, m) and cost C (P, n, m), in C's dtype: at most ``n_iter``
    iterations ``u = a / (K v)``, ``v = b / (K^T u)`` from ``v = 1`` on the tokens with mass, 0 elsewhere.

    Every 10 iterations (as POT) the row marginals are checked; once every pair meets them to ``stop_thr`` the
    iterations stop (the plan then moves by less than that). The log-domain form runs instead when ``max(C) / eps``
    > :data:`~verl_anomseer.grounding.ot.LOG_DOMAIN_RATIO`.
    """
    a, b = a.to(C.dtype), b.to(C.dtype)
    if float(C.amax()) / eps > LOG_DOMAIN_RATIO:
        return _log_sinkhorn(a, b, C.double(), eps, n_iter).to(C.dtype)
    K = torch.exp(-C / eps)
    v = (b > 0).to(C.dtype)  # zero-mass (padding) tokens start, and stay, out of the transport
    for it in range(n_iter):
        Kv = torch.bmm(K, v.unsqueeze(-1)).squeeze(-1)
        u = a / Kv
        v = b / torch.bmm(u.unsqueeze(-2), K).squeeze(-2)
        if it % 10 == 0 and it + 1 < n_iter:
            row_error = torch.linalg.vector_norm(u * torch.bmm(K, v.unsqueeze(-1)).squeeze(-1) - a, dim=-1)
            if float(torch.nan_to_num(row_error, nan=0.0).max()) < stop_thr:
                break
    return u.unsqueeze(-1) * K * v.unsqueeze(-2)


def _log_sinkhorn(a: torch.Tensor, b: torch.Tensor, C: torch.Tensor, eps: float, n_iter: int) -> torch.Tensor:
    """The same iterations on ``f = eps log u``, ``g = eps log v``; zero masses stay zero."""
    log_a = torch.where(a > 0, torch.log(torch.where(a > 0, a, 1.0)), -math.inf)
    log_b = torch.where(b > 0, torch.log(torch.where(b > 0, b, 1.0)), -math.inf)
    M = -C / eps
    g = torch.where(b > 0, 0.0, -math.inf).double()
    for _ in range(n_iter):
        f = log_a - torch.logsumexp(M + g.unsqueeze(-2), dim=-1)
        g = log_b - torch.logsumexp(M + f.unsqueeze(-1), dim=-2)
    return torch.exp(f.unsqueeze(-1) + M + g.unsqueeze(-2))


def _chunks(n_pairs: int, sizes: list[int], budget: int) -> list[range]:
    """Consecutive index ranges whose padded cost (count x max size product) stays within ``budget``."""
    out, start, worst = [], 0, 0
    for i in range(n_pairs):
        worst_next = max(worst, sizes[i])
        if i > start and (i + 1 - start) * worst_next > budget:
            out.append(range(start, i))
            start, worst_next = i, sizes[i]
        worst = worst_next
    if n_pairs:
        out.append(range(start, n_pairs))
    return out


def ot_scores(
    responses: Sequence[torch.Tensor],
    references: Sequence[torch.Tensor],
    eps: float = DEFAULT_EPS,
    n_iter: int = DEFAULT_N_ITER,
    tau: float = DEFAULT_TAU,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> BatchedOT:
    """OT grounding of pair ``i`` = (``responses[i]`` (T_i, D), ``references[i]`` (S_i, D)); results (P,) float64.

    All tensors share one device and hidden size; a length of 0 is allowed (W = 1 and entropy 0 for that pair).
    """
    if len(responses) != len(references):
        raise ValueError(f"{len(responses)} responses but {len(references)} references")
    check_positive("eps", eps)
    check_positive("tau", tau)
    check_positive_int("n_iter", n_iter)
    n = len(responses)
    if n == 0:
        empty = torch.zeros(0, dtype=torch.float64)
        return BatchedOT(empty, empty, empty, empty)
    device = responses[0].device
    distance = torch.full((n,), EMPTY_DISTANCE, dtype=torch.float64, device=device)
    ent_r = torch.zeros(n, dtype=torch.float64, device=device)
    ent_e = torch.zeros(n, dtype=torch.float64, device=device)
    sizes = [max(1, int(r.shape[0])) * max(1, int(e.shape[0])) for r, e in zip(responses, references)]
    for rows in _chunks(n, sizes, chunk_elements):
        idx = torch.tensor(list(rows), device=device)
        dtype = _compute_dtype(responses[rows[0]])
        H_r, valid_r = _pad([responses[i] for i in rows], device, dtype)
        H_e, valid_e = _pad([references[i] for i in rows], device, dtype)
        norms_r, U_r = norms_and_directions(H_r)
        norms_e, U_e = norms_and_directions(H_e)
        a, b = masked_softmax(norms_r, valid_r), masked_softmax(norms_e, valid_e)
        C = (1.0 - torch.bmm(U_r, U_e.transpose(1, 2))).clamp(0.0, 2.0)
        plan = sinkhorn_plans(a, b, C, eps, n_iter)
        W = torch.nan_to_num((plan * C).sum(dim=(1, 2)).double(), nan=EMPTY_DISTANCE).clamp(0.0, 2.0)
        has_both = valid_r.any(dim=1) & valid_e.any(dim=1)
        distance[idx] = torch.where(has_both, W, EMPTY_DISTANCE)
        ent_r[idx], ent_e[idx] = mass_entropy(a), mass_entropy(b)
    score = torch.exp(-distance / tau).clamp(0.0, 1.0)
    return BatchedOT(distance, score, ent_r, ent_e)


def cosine_scores(responses: Sequence[torch.Tensor], references: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean-pooled alternative per pair: ``clip(cos(mean_t h_t, mean_s h_s), 0, 1)``; 0 for an empty side."""
    if len(responses) != len(references):
        raise ValueError(f"{len(responses)} responses but {len(references)} references")
    out = []
    for H_r, H_e in zip(responses, references):
        if H_r.shape[0] == 0 or H_e.shape[0] == 0:
            out.append(torch.zeros((), dtype=torch.float64, device=H_r.device))
            continue
        u_r, u_e = _pooled_direction(H_r), _pooled_direction(H_e)
        out.append((u_r * u_e).sum().double().clamp(0.0, 1.0))
    return torch.stack(out) if out else torch.zeros(0, dtype=torch.float64)


def _pooled_direction(H: torch.Tensor) -> torch.Tensor:
    H = torch.nan_to_num(H.to(_compute_dtype(H)))
    scale = H.abs().amax()
    mean = (H / scale if scale > 0 else H).mean(dim=0, keepdim=True)
    return norms_and_directions(mean)[1][0]
