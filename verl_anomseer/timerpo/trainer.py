"""verl hook: hands the grounding column to the `timerpo` estimator under the v1 trainer.

verl 0.9.1's v1 `_compute_advantage` only fetches uid/mask/scores, so a custom estimator sees no grounding.
`install_trainers` replaces each registered v1 trainer (`sync`, the default, and the async modes) by a subclass
that, only when `algorithm.adv_estimator == "timerpo"`, reads the column for the batch's keys from
TransferQueue, feeds it to the estimator through `grounding_feed`, and adds the `timerpo/*` metrics; otherwise
it is verl's class unchanged. Where the column comes from is `algorithm.timerpo.grounding.source`:

- `policy` (the paper's): the trainer swaps verl's actor worker for `actor_worker.GroundingActorRolloutRefWorker`
  (as verl's own separated trainer swaps its actor worker, through `_init_resource_pool_mgr`) and asks it, through
  the old-log-prob call's extra_info, to score the grounding on the actor's hidden states; the worker writes
  `actor_worker.OUTPUT_FIELDS` to TransferQueue;
- `reward`: the reward function's `grounding` extra, in `extra_fields["reward_extra_info"]`.

Generation dumps (`trainer.rollout_data_dir`) gain `grounding`, `series_id` and `response_ids` columns. Runs that
cannot supply grounding fail in the driver, before Ray starts (`check_config`, run by `verl_anomseer.plugin` in
front of verl's `validate_config`), and again in the trainer's `__init__` for trainers built without that driver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from verl_anomseer.timerpo.advantage import grounding_feed
from verl_anomseer.timerpo.batch_order import DataloaderOrderMixin
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


def _section(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) or hasattr(node, "get") else None
        if node is None:
            return None
    return node


def _reward_grounding(config: Mapping[str, Any]) -> Any:
    reward_fn = _section(config, "reward.custom_reward_function") or {}
    return (
        (reward_fn.get("reward_kwargs") or {}).get("grounding") if REWARD_MODULE in str(reward_fn.get("path")) else None
    )


def require_grounding_source(config: Mapping[str, Any]) -> TimerPOSettings:
    """Validate a timerpo run's config before anything starts; raise TimerPOConfigError naming the fix."""
    settings = TimerPOSettings.from_algorithm_config(config.get("algorithm"))
    if settings.policy_grounding:
        require_policy_grounding(config)
        return settings
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
            "algorithm.timerpo.grounding.source=reward needs the reward's grounding term: set "
            "+reward.custom_reward_function.reward_kwargs.grounding.similarity=ot (encoder, eps, n_iter, tau "
            "optional), or algorithm.timerpo.grounding.source=policy (the paper's: the actor's own hidden states), "
            + RECIPE_HINT
        )
    return settings


def require_policy_grounding(config: Mapping[str, Any]) -> None:
    """The policy source is computed in verl's FSDP actor worker during the old-log-prob pass: refuse what it
    cannot serve, naming the key to change."""
    switch = "or set algorithm.timerpo.grounding.source=reward (a frozen encoder in the reward function)"
    if _reward_grounding(config):
        raise TimerPOConfigError(
            "algorithm.timerpo.grounding.source=policy computes the grounding in the actor, but "
            "reward.custom_reward_function.reward_kwargs.grounding asks the reward function for it too: remove it "
            "(~reward.custom_reward_function.reward_kwargs.grounding), or set algorithm.timerpo.grounding.source=reward"
        )
    if not config.get("trainer", {}).get("use_v1", True):
        raise TimerPOConfigError(
            "algorithm.timerpo.grounding.source=policy needs verl's v1 trainer: set trainer.use_v1=true"
        )
    strategy = _section(config, "actor_rollout_ref.actor.strategy")
    if strategy not in (None, "fsdp", "fsdp2"):
        raise TimerPOConfigError(
            f"algorithm.timerpo.grounding.source=policy runs in verl's FSDP actor, not actor_rollout_ref.actor."
            f"strategy={strategy}: use fsdp or fsdp2, {switch}"
        )
    sp = _section(config, "actor_rollout_ref.actor.ulysses_sequence_parallel_size") or 1
    if int(sp) != 1:
        raise TimerPOConfigError(
            "algorithm.timerpo.grounding.source=policy needs each response's hidden states on one rank: set "
            f"actor_rollout_ref.actor.ulysses_sequence_parallel_size=1 (got {sp}), {switch}"
        )
    if _section(config, "algorithm.rollout_correction.bypass_mode"):
        raise TimerPOConfigError(
            "algorithm.timerpo.grounding.source=policy is computed in the old-log-prob pass, which "
            "algorithm.rollout_correction.bypass_mode=true skips: set it to false, " + switch
        )


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


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def policy_grounding_columns(data: Any) -> tuple[np.ndarray, dict[str, float]]:
    """The grounding column and its `timerpo/*` metrics from the actor worker's TransferQueue fields."""
    from verl_anomseer.timerpo import actor_worker as aw

    def column(field: str) -> np.ndarray:
        return data[field].detach().cpu().double().numpy().reshape(-1)

    metrics = {"timing_s/grounding": float(column(aw.SECONDS_FIELD).max(initial=0.0))}
    for field, name in ((aw.ENTROPY_RESPONSE_FIELD, "response"), (aw.ENTROPY_REFERENCE_FIELD, "reference")):
        mean = _nanmean(column(field))
        if mean is not None:
            metrics[f"timerpo/mass_entropy_{name}"] = mean
    return column(aw.SCORE_FIELD), metrics


class GroundingAdvantageMixin:
    """Put before a verl v1 trainer class; a no-op unless `algorithm.adv_estimator == "timerpo"`."""

    def __init__(self, config: Any) -> None:
        self._grounding_by_key: dict[str, float] = {}
        if uses_timerpo(config):
            require_grounding_source(config)
            from verl.trainer.ppo import core_algos

            core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)
        super().__init__(config)

    def _timerpo_settings(self) -> TimerPOSettings | None:
        return TimerPOSettings.from_algorithm_config(self.config.algorithm) if uses_timerpo(self.config) else None

    def _uses_policy_grounding(self) -> bool:
        settings = self._timerpo_settings()
        return settings is not None and settings.policy_grounding

    def _init_resource_pool_mgr(self) -> None:
        """verl's mapping, with the actor role served by the grounding actor worker when the policy scores it."""
        super()._init_resource_pool_mgr()
        if not self._uses_policy_grounding():
            return
        import ray
        from verl.workers.engine_workers import ActorRolloutRefWorker

        from verl_anomseer.timerpo.actor_worker import GroundingActorRolloutRefWorker

        for role in list(self.role_worker_mapping):
            if getattr(role, "name", str(role)) not in ("Actor", "ActorRollout", "ActorRolloutRef"):
                continue
            worker = getattr(self.role_worker_mapping[role], "__ray_actor_class__", None)
            if worker is not ActorRolloutRefWorker:
                raise TimerPOConfigError(
                    f"algorithm.timerpo.grounding.source=policy extends verl's ActorRolloutRefWorker, but this trainer "
                    f"({type(self).__name__}) runs {getattr(worker, '__name__', worker)}: use trainer.v1.trainer_mode="
                    "sync, or algorithm.timerpo.grounding.source=reward"
                )
            self.role_worker_mapping[role] = ray.remote(GroundingActorRolloutRefWorker)

    def _compute_old_log_prob(self, batch: Any, metrics: dict) -> Any:
        settings = self._timerpo_settings()
        if settings is None or not settings.policy_grounding:
            return super()._compute_old_log_prob(batch, metrics)
        from verl_anomseer.timerpo.actor_worker import REQUEST_KEY

        batch.extra_info[REQUEST_KEY] = settings.grounding.as_request()
        try:
            result = super()._compute_old_log_prob(batch, metrics)
        finally:
            batch.extra_info.pop(REQUEST_KEY, None)  # the ref-log-prob call reuses this meta
        getattr(result, "extra_info", {}).pop(REQUEST_KEY, None)
        return result

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        settings = self._timerpo_settings()
        if settings is None:
            return super()._compute_advantage(batch, metrics)
        import transfer_queue as tq

        keys = list(batch.keys)
        extra_metrics: dict[str, float] = {}
        if settings.policy_grounding:
            from verl_anomseer.timerpo.actor_worker import OUTPUT_FIELDS

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=list(OUTPUT_FIELDS))
            grounding, extra_metrics = policy_grounding_columns(data)
        else:
            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
            grounding = grounding_from_extra_fields(
                data["extra_fields"], keys, settings.grounding_key, required=settings.needs_grounding
            )
        self._grounding_by_key = dict(zip(keys, grounding.tolist()))
        with grounding_feed(grounding) as feed:
            batch = super()._compute_advantage(batch, metrics)
        metrics.update(feed.metrics)
        metrics.update(extra_metrics)
        return batch

    def _log_rollout_data(self, batch: Any, timing_raw: dict, rollout_data_dir: str) -> None:
        """verl's dump, plus per-row `grounding` (either source), `series_id` and `response_ids` columns."""
        import transfer_queue as tq

        data = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_info", "responses", "response_mask"]
        )
        infos = list(data["extra_info"]) if "extra_info" in data else [None] * len(batch.keys)
        responses, masks = data["responses"].unbind(), data["response_mask"].unbind()
        self._dump_columns = {
            key: {
                "grounding": _json_number(self._grounding_by_key.get(key)),
                "series_id": info.get("series_id") if isinstance(info, Mapping) else None,
                "response_ids": ids[mask.bool()].tolist(),
            }
            for key, info, ids, mask in zip(batch.keys, infos, responses, masks, strict=True)
        }
        try:
            super()._log_rollout_data(batch, timing_raw, rollout_data_dir)
        finally:
            self._dump_columns = None

    def _dump_generations(self, inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path) -> None:
        columns = getattr(self, "_dump_columns", None)
        keys = reward_extra_infos_dict.get("uid") if columns else None
        if keys is not None and all(key in columns for key in keys):
            reward_extra_infos_dict = dict(reward_extra_infos_dict)
            for name in ("grounding", "series_id", "response_ids"):
                reward_extra_infos_dict[name] = [columns[key][name] for key in keys]
        return super()._dump_generations(inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path)


def _json_number(value: float | None) -> float | None:
    """NaN ("no signal") is written as null: strict JSON has no NaN."""
    return value if value is not None and math.isfinite(value) else None


def install_trainers(v1_module: Any) -> None:
    """Replace every registered v1 trainer by its subclass with GroundingAdvantageMixin and DataloaderOrderMixin
    (`batch_order.py`) in front (idempotent).

    verl's `register_trainer` refuses to rebind a taken name, so the registry entry is rebound directly.
    """
    registry = v1_module.trainer_base.TRAINER_REGISTRY
    for name, cls in list(registry.items()):
        if issubclass(cls, GroundingAdvantageMixin):
            continue
        registry[name] = type(
            f"TimerPO{cls.__name__}",
            (GroundingAdvantageMixin, DataloaderOrderMixin, cls),
            {
                "__module__": __name__,
                "__doc__": f"verl's {cls.__name__} plus the TimerPO grounding hook and a run-independent batch order.",
            },
        )
