"""TimerPO settings: the `algorithm.timerpo.*` section, validated once (no verl import).

Keys (defaults = the authors' released run):
  alpha          weight of the grounded advantage, >= 0 (0.3); 0 is exactly GRPO / Dr.GRPO
  projection     orthogonal | none | conflict (orthogonal)
  norm_by_std    divide the outcome advantage by the group std + 1e-6 (False: centre only, as the authors)
  grounding_key  the reward-extra key holding the grounding score in [0, 1] ("grounding"), read when
                 grounding.source = reward
  grounding      where and how the grounding score s is computed (`GroundingSettings`):
    source                policy | reward (policy): `policy` = the paper's, the actor's own last-layer hidden
                          states of the response and of the ExpCoT trace, scored in the actor worker;
                          `reward` = a frozen encoder in the reward function (reward_kwargs.grounding)
    similarity            ot | cosine (ot)                      policy source only
    eps, n_iter, tau      Sinkhorn regularisation, iterations, score temperature (0.08, 50, 0.5)
    max_reference_tokens  ExpCoT tokens kept (512; longer traces are truncated, never dropped)

verl's own `algorithm.norm_adv_by_std_in_grpo` is not read: its default (true) is GRPO's, not the authors'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from verl_anomseer.validation import check_positive, check_positive_int

PROJECTIONS = ("orthogonal", "none", "conflict")
SOURCES = ("policy", "reward")
SIMILARITIES = ("ot", "cosine")
ESTIMATOR_NAME = "timerpo"


class TimerPOConfigError(ValueError):
    """A bad `algorithm.timerpo.*` value or a run that cannot supply the grounding column."""


def _mapping(section: Any, name: str) -> dict:
    if section is None:
        return {}
    if not isinstance(section, Mapping) and not hasattr(section, "items"):
        raise TimerPOConfigError(f"{name} must be a mapping, got {type(section).__name__}")
    return dict(section.items())


def _reject_unknown(values: dict, cls: type, name: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TimerPOConfigError(f"unknown {name} key(s) {unknown}; valid keys: {sorted(known)}")


def _positive_number(name: str, value: Any) -> float:
    return check_positive(f"algorithm.timerpo.grounding.{name}", value, TimerPOConfigError)


def _positive_int(name: str, value: Any) -> int:
    return check_positive_int(f"algorithm.timerpo.grounding.{name}", value, TimerPOConfigError)


@dataclass(frozen=True)
class GroundingSettings:
    """`algorithm.timerpo.grounding`: which source computes s, and the policy source's OT settings."""

    source: str = "policy"
    similarity: str = "ot"
    eps: float = 0.08
    n_iter: int = 50
    tau: float = 0.5
    max_reference_tokens: int = 512

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise TimerPOConfigError(
                f"algorithm.timerpo.grounding.source must be one of {'|'.join(SOURCES)}, got {self.source!r}"
            )
        if self.similarity not in SIMILARITIES:
            raise TimerPOConfigError(
                f"algorithm.timerpo.grounding.similarity must be one of {'|'.join(SIMILARITIES)}, "
                f"got {self.similarity!r}"
            )
        object.__setattr__(self, "eps", _positive_number("eps", self.eps))
        object.__setattr__(self, "tau", _positive_number("tau", self.tau))
        _positive_int("n_iter", self.n_iter)
        _positive_int("max_reference_tokens", self.max_reference_tokens)

    @classmethod
    def from_section(cls, section: Any) -> GroundingSettings:
        values = _mapping(section, "algorithm.timerpo.grounding")
        _reject_unknown(values, cls, "algorithm.timerpo.grounding")
        return cls(**values)

    def as_request(self) -> dict[str, Any]:
        """Plain values for the actor worker (what crosses the process boundary)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class TimerPOSettings:
    alpha: float = 0.3
    projection: str = "orthogonal"
    norm_by_std: bool = False
    grounding_key: str = "grounding"
    grounding: GroundingSettings = GroundingSettings()

    def __post_init__(self) -> None:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise TimerPOConfigError(f"algorithm.timerpo.alpha must be a number >= 0, got {self.alpha!r}")
        if not math.isfinite(self.alpha) or self.alpha < 0:
            raise TimerPOConfigError(f"algorithm.timerpo.alpha must be finite and >= 0, got {self.alpha!r}")
        if self.projection not in PROJECTIONS:
            raise TimerPOConfigError(
                f"algorithm.timerpo.projection must be one of {'|'.join(PROJECTIONS)}, got {self.projection!r}"
            )
        if not isinstance(self.norm_by_std, bool):
            raise TimerPOConfigError(f"algorithm.timerpo.norm_by_std must be true or false, got {self.norm_by_std!r}")
        if not isinstance(self.grounding_key, str) or not self.grounding_key:
            raise TimerPOConfigError(
                f"algorithm.timerpo.grounding_key must be a non-empty string, got {self.grounding_key!r}"
            )

    @property
    def policy_grounding(self) -> bool:
        """The grounding column is computed in the actor worker (the paper's), not by the reward function."""
        return self.grounding.source == "policy"

    @property
    def needs_grounding(self) -> bool:
        """alpha = 0 is plain GRPO: the grounding column is then optional (logged when present)."""
        return self.alpha > 0

    @classmethod
    def from_algorithm_config(cls, algorithm: Mapping[str, Any] | None) -> TimerPOSettings:
        """Read `algorithm.timerpo` from verl's algorithm config (a DictConfig or a dict); unknown keys fail."""
        values = _mapping(algorithm.get("timerpo") if algorithm is not None else None, "algorithm.timerpo")
        _reject_unknown(values, cls, "algorithm.timerpo")
        values["grounding"] = GroundingSettings.from_section(values.get("grounding"))
        if isinstance(values.get("alpha"), int) and not isinstance(values.get("alpha"), bool):
            values["alpha"] = float(values["alpha"])
        return cls(**values)
