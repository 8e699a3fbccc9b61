"""TimerPO settings: the `algorithm.timerpo.*` section, validated once (no verl import).

Keys (defaults = the authors' released run):
  alpha          weight of the grounded advantage, >= 0 (0.3); 0 is exactly GRPO / Dr.GRPO
  projection     orthogonal | none | conflict (orthogonal)
  norm_by_std    divide the outcome advantage by the group std + 1e-6 (False: centre only, as the authors)
  grounding_key  the reward-extra key holding the grounding score in [0, 1] ("grounding")

verl's own `algorithm.norm_adv_by_std_in_grpo` is not read: its default (true) is GRPO's, not the authors'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

PROJECTIONS = ("orthogonal", "none", "conflict")
ESTIMATOR_NAME = "timerpo"


class TimerPOConfigError(ValueError):
    """A bad `algorithm.timerpo.*` value or a run that cannot supply the grounding column."""


@dataclass(frozen=True)
class TimerPOSettings:
    alpha: float = 0.3
    projection: str = "orthogonal"
    norm_by_std: bool = False
    grounding_key: str = "grounding"

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
    def needs_grounding(self) -> bool:
        """alpha = 0 is plain GRPO: the grounding column is then optional (logged when present)."""
        return self.alpha > 0

    @classmethod
    def from_algorithm_config(cls, algorithm: Mapping[str, Any] | None) -> TimerPOSettings:
        """Read `algorithm.timerpo` from verl's algorithm config (a DictConfig or a dict); unknown keys fail."""
        section = algorithm.get("timerpo") if algorithm is not None else None
        if section is None:
            return cls()
        if not isinstance(section, Mapping) and not hasattr(section, "items"):
            raise TimerPOConfigError(f"algorithm.timerpo must be a mapping, got {type(section).__name__}")
        values = dict(section.items())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TimerPOConfigError(f"unknown algorithm.timerpo key(s) {unknown}; valid keys: {sorted(known)}")
        if isinstance(values.get("alpha"), int) and not isinstance(values.get("alpha"), bool):
            values["alpha"] = float(values["alpha"])
        return cls(**values)
