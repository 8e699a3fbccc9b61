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
    """Sequence-level TimerPO advantages (float64, shape (B,)) and batch stats.

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
    vf = valid.to(torch.float64)

    # outcome advantage
    count = _group_sum(vf, gid, n_groups)
    mean = _group_sum(r * vf, gid, n_groups) / count.clamp(min=1.0)
    inf = float("inf")
    r_hi = torch.where(valid, r, -inf)
    r_lo = torch.where(valid, r, inf)
    g_max = torch.full((n_groups,), -inf, dtype=torch.float64, device=device).scatter_reduce(0, gid, r_hi, "amax")
    g_min = torch.full((n_groups,), inf, dtype=torch.float64, device=device).scatter_reduce(0, gid, r_lo, "amin")
    equal = (count >= 1) & (g_max == g_min)
    single = count == 1
    centred = torch.where(single[gid], r, r - mean[gid])
    if norm_by_std:
        sq = _group_sum(torch.where(valid, (r - mean[gid]) ** 2, 0.0), gid, n_groups)
        std = torch.where(count > 1, torch.sqrt(sq / (count - 1).clamp(min=1.0)), torch.ones_like(count))
        centred = centred / (std[gid] + STD_EPS)
    a_main = torch.where(valid & ~(equal & ~single)[gid], centred, 0.0)

    # grounded advantage over the signal rows
    signal = valid & torch.isfinite(s)
    sf = signal.to(torch.float64)
    s0 = torch.where(signal, s, 0.0)
    n_sig = _group_sum(sf, gid, n_groups)
    s_mean = _group_sum(s0, gid, n_groups) / n_sig.clamp(min=1.0)
    a_g = torch.where(signal & (n_sig >= 2)[gid], s0 - s_mean[gid], 0.0)

    # per-group projection on the signal rows
    a_main_s = a_main * sf
    dot = _group_sum(a_g * a_main_s, gid, n_groups)
    norm2 = _group_sum(a_main_s * a_main_s, gid, n_groups)
    coef = dot / (norm2 + PROJ_EPS)
    if projection == "none":
        coef = torch.zeros_like(coef)
    elif projection == "conflict":
        coef = torch.where(dot < 0, coef, 0.0)
    elif projection != "orthogonal":
        raise ValueError(f"projection must be orthogonal|none|conflict, got {projection!r}")
    a_perp = torch.where(signal, a_g - coef[gid] * a_main, 0.0)
    advantages = a_main + alpha * a_perp

    present = count >= 1
    projected = present & (norm2 > 0) & (n_sig >= 2)
    n_valid = int(valid.sum().item())
    n_present = max(int(present.sum().item()), 1)
    grounded = s0[signal]
    stats = TimerPOStats(
        grounding_mean=float(grounded.mean().item()) if grounded.numel() else None,
        grounding_std=float(grounded.std(correction=0).item()) if grounded.numel() else None,
        proj_coef_mean=float(coef[projected].mean().item()) if bool(projected.any()) else None,
        projected_group_frac=float(projected.sum().item() / n_present),
        zero_var_group_frac=float((equal & present).sum().item() / n_present),
        missing_grounding_frac=float((n_valid - int(signal.sum().item())) / max(n_valid, 1)),
        n_groups=int(present.sum().item()),
    )
    return advantages, stats


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
