"""verl hook: hands the grounding column from TransferQueue to the `timerpo` estimator under the v1 trainer.

verl 0.9.1's v1 `_compute_advantage` only fetches uid/mask/scores; reward extras (where the reward function's
`grounding` lands, in `extra_fields["reward_extra_info"]`) never reach a custom estimator. `install_trainers`
replaces each registered v1 trainer (`sync`, the default, and the async modes) by a subclass that, only when
`algorithm.adv_estimator == "timerpo"`, fetches that column for the same keys, feeds it to the estimator through
`grounding_feed`, and adds the `timerpo/*` metrics; otherwise it is verl's class unchanged. Runs that cannot
supply grounding fail in the driver, before Ray starts (`check_config`, run by `verl_anomseer.plugin` in front
of verl's `validate_config`), and again in the trainer's `__init__` for trainers built without that driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from verl_anomseer.timerpo.advantage import grounding_feed
from verl_anomseer.timerpo.settings import ESTIMATOR_NAME, TimerPOConfigError, TimerPOSettings

REWARD_MODULE = "verl_anomseer.scoring.reward"
RECIPE_HINT = "or start from a recipe: --config-path=pkg://verl_anomseer.recipes --config-name=timerpo_qwen2_5_vl_3b"


def uses_timerpo(config: Mapping[str, Any]) -> bool:
    return config.get("algorithm", {}).get("adv_estimator") == ESTIMATOR_NAME


def check_config(config: Mapping[str, Any]) -> None:
    """Driver-side check, before Ray starts (`verl_anomseer.plugin` runs it in front of verl's `validate_config`):
    a timerpo run must be able to supply grounding (`require_grounding_source`); other runs pass untouched."""
    if uses_timerpo(config):
        require_grounding_source(config)


def require_grounding_source(config: Mapping[str, Any]) -> TimerPOSettings:
    """Validate a timerpo run's config before anything starts; raise TimerPOConfigError naming the fix."""
    settings = TimerPOSettings.from_algorithm_config(config.get("algorithm"))
    if not settings.needs_grounding:
        return settings
    if not config.get("trainer", {}).get("use_v1", True):
        raise TimerPOConfigError(
            "algorithm.adv_estimator=timerpo needs verl's v1 trainer (the legacy trainer never passes reward "
            "extras to a custom estimator): set trainer.use_v1=true, or algorithm.timerpo.alpha=0 for plain GRPO"
        )
    reward_fn = config.get("reward", {}).get("custom_reward_function", {}) or {}
    path = reward_fn.get("path")
    if not path:
        raise TimerPOConfigError(
            "algorithm.adv_estimator=timerpo needs a reward function that returns a "
            f"'{settings.grounding_key}' score: set reward.custom_reward_function.path=pkg://{REWARD_MODULE} "
            "and +reward.custom_reward_function.reward_kwargs.grounding.similarity=ot, " + RECIPE_HINT
        )
    kwargs = reward_fn.get("reward_kwargs") or {}
    if REWARD_MODULE in str(path) and not kwargs.get("grounding"):
        raise TimerPOConfigError(
            f"algorithm.adv_estimator=timerpo with {REWARD_MODULE} needs its grounding term: set "
            "+reward.custom_reward_function.reward_kwargs.grounding.similarity=ot (encoder, eps, n_iter, tau "
            "optional), " + RECIPE_HINT
        )
    return settings


def grounding_from_extra_fields(
    extra_fields: Any, keys: list[str], grounding_key: str, required: bool = True
) -> np.ndarray:
    """Row-aligned float grounding from TQ `extra_fields` values; NaN where a row has none.

    `required`: raise when no row carries the key (a grounded run whose reward never returns it).
    """
    values = np.full(len(keys), np.nan)
    seen = False
    for i, (key, value) in enumerate(zip(keys, list(extra_fields), strict=True)):
        if not key.endswith("_0"):
            raise RuntimeError(
                f"timerpo counts one response per rollout session, but trajectory {key!r} is a later output of a "
                "multi-output agent loop: use a single-turn agent loop or algorithm.adv_estimator=grpo"
            )
        fields = getattr(value, "data", value)
        info = fields.get("reward_extra_info", {}) if isinstance(fields, Mapping) else {}
        if grounding_key in info:
            seen = True
            try:
                values[i] = float(info[grounding_key])
            except (TypeError, ValueError):
                pass
    if required and keys and not seen:
        raise RuntimeError(
            f"timerpo: no trajectory carries reward_extra_info[{grounding_key!r}]; the reward function must return "
            f"it (pkg://{REWARD_MODULE} does when reward_kwargs.grounding is set)"
        )
    return values


class GroundingAdvantageMixin:
    """Put before a verl v1 trainer class; a no-op unless `algorithm.adv_estimator == "timerpo"`."""

    def __init__(self, config: Any) -> None:
        if uses_timerpo(config):
            require_grounding_source(config)
            from verl.trainer.ppo import core_algos

            core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)
        super().__init__(config)

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        if not uses_timerpo(self.config):
            return super()._compute_advantage(batch, metrics)
        import transfer_queue as tq

        settings = TimerPOSettings.from_algorithm_config(self.config.algorithm)
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        grounding = grounding_from_extra_fields(
            data["extra_fields"], list(batch.keys), settings.grounding_key, required=settings.needs_grounding
        )
        with grounding_feed(grounding) as feed:
            batch = super()._compute_advantage(batch, metrics)
        metrics.update(feed.metrics)
        return batch


def install_trainers(v1_module: Any) -> None:
    """Replace every registered v1 trainer by its GroundingAdvantageMixin subclass (idempotent).

    verl's `register_trainer` refuses to rebind a taken name, so the registry entry is rebound directly.
    """
    registry = v1_module.trainer_base.TRAINER_REGISTRY
    for name, cls in list(registry.items()):
        if issubclass(cls, GroundingAdvantageMixin):
            continue
        registry[name] = type(
            f"TimerPO{cls.__name__}",
            (GroundingAdvantageMixin, cls),
            {"__module__": __name__, "__doc__": f"verl's {cls.__name__} plus the TimerPO grounding hook."},
        )
