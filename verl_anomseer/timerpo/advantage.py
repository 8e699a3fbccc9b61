"""The TimerPO advantage (docs/timerpo.md), pure torch, plus its verl-signature adapter (no verl import).

Per prompt group g (rows sharing verl's `uid`), over the rows that carry a response (padding rows with an
all-zero response mask are ignored and get 0):
  A_main_i = r_i - mean_g(r)                       (/ (std_g + 1e-6) when norm_by_std)
             one-row group: A_main = r (verl's grpo convention: mean 0, std 1); all-equal group: A_main = 0
  A_g_i    = s_i - mean_g(s)                       over rows with a finite grounding s (the "signal" rows);
             rows without grounding, and groups with < 2 signal rows, get A_g = 0
  coef_g   = <A_g, A_main>_S / (||A_main||_S^2 + 1e-8)     (S = signal rows of g)
  A_perp   = A_g - coef_g * A_main on S, 0 elsewhere   (orthogonal; conflict: only when <A_g, A_main> < 0;
             none: A_perp = A_g)
  A_i      = A_main_i + alpha * A_perp_i, broadcast over the response tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from verl_anomseer.timerpo.settings import TimerPOSettings

STD_EPS = 1e-6
PROJ_EPS = 1e-8


@dataclass(frozen=True)
class TimerPOStats:
    """Batch diagnostics. `grounding_mean` / `grounding_std` are None when no row has a grounding value and
    `proj_coef_mean` when no group was projected (a group needs >= 2 grounded rows and unequal rewards): such a
    step omits them, while `projected_group_frac` (share of groups projected) is always logged."""

    grounding_mean: float | None
    grounding_std: float | None
    proj_coef_mean: float | None
    projected_group_frac: float
    zero_var_group_frac: float
    missing_grounding_frac: float
    n_groups: int

    def as_metrics(self, prefix: str = "timerpo/") -> dict[str, float]:
        values = {
            "grounding_mean": self.grounding_mean,
            "grounding_std": self.grounding_std,
            "proj_coef_mean": self.proj_coef_mean,
            "projected_group_frac": self.projected_group_frac,
            "zero_var_group_frac": self.zero_var_group_frac,
            "missing_grounding_frac": self.missing_grounding_frac,
            "n_groups": float(self.n_groups),
        }
        return {prefix + k: float(v) for k, v in values.items() if v is not None}


def _group_sum(values: torch.Tensor, group_ids: torch.Tensor, n_groups: int) -> torch.Tensor:
    return torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(0, group_ids, values)


@dataclass(frozen=True)
class _Groups:
    """Row-to-group layout of one batch: group ids (B,), validity (B,), rows per group (n,)."""

    gid: torch.Tensor
    valid: torch.Tensor
    count: torch.Tensor

    @property
    def n(self) -> int:
        return self.count.numel()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        return _group_sum(values, self.gid, self.n)

    def mean(self, values: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-group mean of ``values`` over ``rows`` (bool) and the per-group row count."""
        count = self.sum(rows.to(torch.float64))
        return self.sum(torch.where(rows, values, 0.0)) / count.clamp(min=1.0), count


def outcome_advantage(r: torch.Tensor, groups: _Groups, norm_by_std: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``A_main_i = r_i - mean_g(r)`` (/ (std_g + 1e-6) when ``norm_by_std``) over valid rows, and the per-group
    "all rewards equal" flag. A one-row group keeps ``A_main = r`` (verl's grpo); an all-equal group gets 0."""
    gid, valid, count = groups.gid, groups.valid, groups.count
    mean, _ = groups.mean(r, valid)
    g_max = torch.full((groups.n,), -math.inf, dtype=r.dtype, device=r.device)
    g_max = g_max.scatter_reduce(0, gid, torch.where(valid, r, -math.inf), "amax")
    g_min = torch.full((groups.n,), math.inf, dtype=r.dtype, device=r.device)
    g_min = g_min.scatter_reduce(0, gid, torch.where(valid, r, math.inf), "amin")
    equal = (count >= 1) & (g_max == g_min)
    single = count == 1
    centred = torch.where(single[gid], r, r - mean[gid])
    if norm_by_std:
        sq = groups.sum(torch.where(valid, (r - mean[gid]) ** 2, 0.0))
        std = torch.where(count > 1, torch.sqrt(sq / (count - 1).clamp(min=1.0)), torch.ones_like(count))
        centred = centred / (std[gid] + STD_EPS)
    return torch.where(valid & ~(equal & ~single)[gid], centred, 0.0), equal


def grounded_advantage(s: torch.Tensor, groups: _Groups) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``A_g_i = s_i - mean_g(s)`` over the signal rows (valid, finite ``s``); 0 elsewhere and in groups with
    fewer than two signal rows. Also returns the signal mask and the per-group signal count."""
    signal = groups.valid & torch.isfinite(s)
    s_mean, n_sig = groups.mean(s, signal)
    a_g = torch.where(signal & (n_sig >= 2)[groups.gid], torch.where(signal, s, 0.0) - s_mean[groups.gid], 0.0)
    return a_g, signal, n_sig


def project(
    a_g: torch.Tensor, a_main: torch.Tensor, signal: torch.Tensor, groups: _Groups, projection: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``A_perp = A_g - coef_g A_main`` on the signal rows, ``coef_g = <A_g, A_main>_S / (||A_main||_S^2 + 1e-8)``
    (``none``: coef 0; ``conflict``: only where ``<A_g, A_main>_S < 0``). Returns A_perp, coef and ||A_main||_S^2."""
    a_main_s = torch.where(signal, a_main, 0.0)
    dot = groups.sum(a_g * a_main_s)
    norm2 = groups.sum(a_main_s * a_main_s)
    coef = dot / (norm2 + PROJ_EPS)
    if projection == "none":
        coef = torch.zeros_like(coef)
    elif projection == "conflict":
        coef = torch.where(dot < 0, coef, 0.0)
    elif projection != "orthogonal":
        raise ValueError(f"projection must be orthogonal|none|conflict, got {projection!r}")
    return torch.where(signal, a_g - coef[groups.gid] * a_main, 0.0), coef, norm2


def timerpo_advantage(
    scores: torch.Tensor,
    grounding: torch.Tensor,
    group_ids: torch.Tensor,
    valid: torch.Tensor,
    *,
    alpha: float,
    projection: str = "orthogonal",
    norm_by_std: bool = False,
) -> tuple[torch.Tensor, TimerPOStats]:
    """Sequence-level TimerPO advantages (float64, shape (B,)) and batch stats: ``A = A_main + alpha A_perp``.

    scores (B,) finite outcome rewards (ValueError otherwise); grounding (B,) in [0, 1], NaN or inf = no signal;
    group_ids (B,) int64 in [0, n); valid (B,) bool, False for padding rows.
    """
    device = scores.device
    r = scores.detach().to(torch.float64)
    s = grounding.detach().to(device, torch.float64)
    gid = group_ids.to(device, torch.int64)
    valid = valid.to(device, torch.bool)
    bad = torch.nonzero(valid & ~torch.isfinite(r)).flatten()
    if bad.numel():
        raise ValueError(f"timerpo: non-finite outcome reward in rows {bad[:5].tolist()}; check the reward function")
    n_groups = int(gid.max().item()) + 1 if gid.numel() else 0
    groups = _Groups(gid, valid, _group_sum(valid.to(torch.float64), gid, n_groups))

    a_main, equal = outcome_advantage(r, groups, norm_by_std)
    a_g, signal, n_sig = grounded_advantage(s, groups)
    a_perp, coef, norm2 = project(a_g, a_main, signal, groups, projection)
    advantages = a_main + alpha * a_perp
    return advantages, _stats(s, signal, groups, equal, coef, norm2 > 0, n_sig)


def _stats(s, signal, groups: _Groups, equal, coef, has_outcome, n_sig) -> TimerPOStats:
    present = groups.count >= 1
    projected = present & has_outcome & (n_sig >= 2)
    n_valid = int(groups.valid.sum().item())
    n_present = max(int(present.sum().item()), 1)
    grounded = s[signal]
    return TimerPOStats(
        grounding_mean=float(grounded.mean().item()) if grounded.numel() else None,
        grounding_std=float(grounded.std(correction=0).item()) if grounded.numel() else None,
        proj_coef_mean=float(coef[projected].mean().item()) if bool(projected.any()) else None,
        projected_group_frac=float(projected.sum().item() / n_present),
        zero_var_group_frac=float((equal & present).sum().item() / n_present),
        missing_grounding_frac=float((n_valid - int(signal.sum().item())) / max(n_valid, 1)),
        n_groups=int(present.sum().item()),
    )


@dataclass
class GroundingFeed:
    """The grounding column for the next estimator call (row-aligned with its batch) and the stats it returns."""

    values: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)


_FEED: ContextVar[GroundingFeed | None] = ContextVar("timerpo_grounding_feed", default=None)


@contextmanager
def grounding_feed(values: np.ndarray) -> Iterator[GroundingFeed]:
    """Make `values` the grounding column of estimator calls inside the block; `feed.metrics` gets the stats."""
    feed = GroundingFeed(values=np.asarray(values, dtype=np.float64))
    token = _FEED.set(feed)
    try:
        yield feed
    finally:
        _FEED.reset(token)


def _grounding_column(
    settings: TimerPOSettings, non_tensor_batch: Mapping[str, Any] | None, n_rows: int
) -> tuple[np.ndarray, GroundingFeed | None]:
    feed = _FEED.get()
    if non_tensor_batch is not None and settings.grounding_key in non_tensor_batch:
        raw = non_tensor_batch[settings.grounding_key]
        column = np.array([_as_float(v) for v in raw], dtype=np.float64)
    elif feed is not None:
        column = feed.values
    elif not settings.needs_grounding:
        column = np.full(n_rows, np.nan)
    else:
        raise RuntimeError(
            "timerpo: no grounding column reached the estimator. Under verl's v1 trainer the verl_anomseer plugin "
            "supplies it: check that the plugin is installed and loaded (python -c 'import verl, "
            "verl_anomseer.plugin as p; p.check()'), or set VERL_USE_EXTERNAL_MODULES=verl_anomseer.plugin; "
            "with a custom trainer pass non_tensor_batch[algorithm.timerpo.grounding_key]."
        )
    if column.shape != (n_rows,):
        raise RuntimeError(f"timerpo: grounding column has shape {column.shape}, expected ({n_rows},)")
    return column, feed


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def group_ids_from_index(index: Any) -> torch.Tensor:
    """Dense int64 group ids from verl's uid array (any hashable values)."""
    _, inverse = np.unique(np.asarray(index, dtype=object).astype(str), return_inverse=True)
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64))


def compute_timerpo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Any = None,
    config: Mapping[str, Any] | None = None,
    non_tensor_batch: Mapping[str, Any] | None = None,
    batch: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """verl estimator signature: `(advantages, returns)`, both (B, L), zero outside the response mask.

    `config` is verl's `algorithm` section (read like a dict). The grounding column comes from
    `non_tensor_batch[grounding_key]` when given, else from `grounding_feed` (set by the trainer hook).
    """
    settings = TimerPOSettings.from_algorithm_config(config)
    if index is None:
        raise ValueError("timerpo needs the prompt group index (verl's uid); none was passed")
    n_rows = token_level_rewards.shape[0]
    grounding, feed = _grounding_column(settings, non_tensor_batch, n_rows)
    advantages, stats = timerpo_advantage(
        token_level_rewards.sum(dim=-1),
        torch.from_numpy(grounding),
        group_ids_from_index(index),
        response_mask.sum(dim=-1) > 0,
        alpha=settings.alpha,
        projection=settings.projection,
        norm_by_std=settings.norm_by_std,
    )
    if feed is not None:
        feed.metrics.update(stats.as_metrics())
    out = advantages.to(token_level_rewards.dtype).unsqueeze(-1) * response_mask.to(token_level_rewards.dtype)
    return out, out
