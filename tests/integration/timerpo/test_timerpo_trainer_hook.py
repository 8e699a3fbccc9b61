"""The v1 trainer's advantage step, with the plugin's hook, on a real TransferQueue on local Ray."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recipe_support import compose_ppo

from verl_anomseer.timerpo.advantage import compute_timerpo_advantage
from verl_anomseer.timerpo.settings import TimerPOConfigError

pytestmark = pytest.mark.integration

REWARD_SOURCE = "+algorithm.timerpo.grounding.source=reward"
REWARD = [
    REWARD_SOURCE,
    "reward.custom_reward_function.path=pkg://verl_anomseer.scoring.reward",
    "+reward.custom_reward_function.reward_kwargs.grounding.similarity=ot",
]
# 2 groups x 3 sessions, different lengths, one missing grounding, then 2 verl-style padding rows
ROWS = [
    ("uidA", 0, 1.0, 0.20, 3),
    ("uidA", 1, 0.0, 0.80, 5),
    ("uidA", 2, 0.5, 0.55, 2),
    ("uidB", 0, 0.3, 0.10, 4),
    ("uidB", 1, 0.3, None, 1),
    ("uidB", 2, 0.9, 0.70, 6),
]
PAD_UID = "pad00ff"


def _trajectories():
    keys, fields = [], []
    for uid, session, reward, grounding, length in ROWS:
        rm = torch.zeros(length)
        rm[-1] = reward
        info = {"score": reward} | ({} if grounding is None else {"grounding": grounding})
        keys.append(f"{uid}_{session}_0")
        fields.append(
            {
                "uid": uid,
                "response_mask": torch.ones(length, dtype=torch.int64),
                "rm_scores": rm,
                "extra_fields": {"reward_extra_info": info},
            }
        )
    for i in range(2):  # padding copies the first sample's extra fields, zero mask and reward (padding_utils)
        keys.append(f"{PAD_UID}_{i}_0")
        fields.append(
            {
                "uid": PAD_UID,
                "response_mask": torch.zeros(1, dtype=torch.int64),
                "rm_scores": torch.zeros(1),
                "extra_fields": fields[0]["extra_fields"],
            }
        )
    return keys, fields


def _put(tq, partition):
    from transfer_queue.metadata import KVBatchMeta
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    keys, fields = _trajectories()
    tq.kv_batch_put(keys=keys, partition_id=partition, fields=list_of_dict_to_tensordict(fields))
    return KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id=partition)


def _trainer(cls, config):
    trainer = cls.__new__(cls)  # the advantage step needs only the config (docs/architecture.md)
    trainer.config = config
    return trainer


def _advantages(tq, batch):
    out = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["advantages"])
    return out["advantages"].to_padded_tensor(0.0)


def _direct(algorithm):
    _, fields = _trajectories()
    width = max(f["response_mask"].numel() for f in fields)
    rewards = torch.zeros(len(fields), width)
    mask = torch.zeros(len(fields), width, dtype=torch.int64)
    for i, f in enumerate(fields):
        n = f["response_mask"].numel()
        rewards[i, :n], mask[i, :n] = f["rm_scores"], f["response_mask"]
    index = np.array([f["uid"] for f in fields], dtype=object)
    grounding = np.array([f["extra_fields"]["reward_extra_info"].get("grounding", np.nan) for f in fields])
    adv, _ = compute_timerpo_advantage(rewards, mask, index, algorithm, {"grounding": grounding})
    return adv


@pytest.mark.slow
@pytest.mark.parametrize("projection", ["orthogonal", "conflict"])
def test_v1_sync_trainer_feeds_grounding_to_timerpo(transfer_queue, projection):
    from verl.trainer.ppo.v1 import get_trainer_cls

    from verl_anomseer import plugin

    plugin.check()
    config = compose_ppo("algorithm.adv_estimator=timerpo", f"+algorithm.timerpo.projection={projection}", *REWARD)
    batch = _put(transfer_queue, f"train_{projection}")
    metrics: dict = {}
    _trainer(get_trainer_cls(config.trainer.v1.trainer_mode), config)._compute_advantage(batch, metrics)

    got = _advantages(transfer_queue, batch)
    expected = _direct(config.algorithm)
    torch.testing.assert_close(got, expected[:, : got.shape[1]], rtol=0, atol=1e-6)
    grpo = _direct({"timerpo": {"alpha": 0.0}})
    assert (got - grpo[:, : got.shape[1]]).abs().max() > 1e-3  # the grounding term did reach the estimator
    assert metrics["timerpo/missing_grounding_frac"] == pytest.approx(1 / 6)
    assert metrics["timerpo/grounding_mean"] == pytest.approx(np.mean([0.2, 0.8, 0.55, 0.1, 0.7]))
    assert metrics["timerpo/n_groups"] == 2.0  # verl's padding group is ignored
    assert "timerpo/proj_coef_mean" in metrics and "timerpo/zero_var_group_frac" in metrics


@pytest.mark.slow
def test_other_estimators_run_verls_own_step(transfer_queue):
    from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls

    config = compose_ppo("algorithm.adv_estimator=grpo", "algorithm.norm_adv_by_std_in_grpo=false")
    hooked_batch, base_batch = _put(transfer_queue, "train_grpo_hooked"), _put(transfer_queue, "train_grpo_base")
    hooked_metrics, base_metrics = {}, {}
    _trainer(get_trainer_cls("sync"), config)._compute_advantage(hooked_batch, hooked_metrics)
    _trainer(PPOTrainerSync, config)._compute_advantage(base_batch, base_metrics)
    assert get_trainer_cls("sync") is not PPOTrainerSync
    torch.testing.assert_close(_advantages(transfer_queue, hooked_batch), _advantages(transfer_queue, base_batch))
    assert hooked_metrics == base_metrics


def test_run_without_grounding_fails_in_trainer_init():
    """Before any worker, model or rollout: the trainer's __init__ names the fix."""
    from verl.trainer.ppo.v1 import get_trainer_cls

    cls = get_trainer_cls("sync")
    with pytest.raises(TimerPOConfigError, match="reward.custom_reward_function.path=pkg://verl_anomseer"):
        cls(compose_ppo("algorithm.adv_estimator=timerpo", REWARD_SOURCE))
    no_kwargs = ["algorithm.adv_estimator=timerpo", REWARD_SOURCE, REWARD[1]]
    with pytest.raises(TimerPOConfigError, match="reward_kwargs.grounding"):
        cls(compose_ppo(*no_kwargs))
    with pytest.raises(TimerPOConfigError, match="projection must be one of"):
        cls(compose_ppo(*no_kwargs, "+algorithm.timerpo.projection=sideways"))
    with pytest.raises(TimerPOConfigError, match="alpha must be finite and >= 0"):
        cls(compose_ppo(*no_kwargs, "+algorithm.timerpo.alpha=-1"))


def test_legacy_trainer_rejects_grounded_timerpo_at_validation(monkeypatch):
    import verl.trainer.main_ppo_v0 as legacy

    monkeypatch.setattr("verl_anomseer.cpu._has_accelerator", lambda: True)  # as on a GPU node

    config = compose_ppo("algorithm.adv_estimator=timerpo", "trainer.use_v1=false", *REWARD)
    with pytest.raises(TimerPOConfigError, match="trainer.use_v1=true"):
        legacy.validate_config(config=config, use_reference_policy=False, use_critic=False)


def test_multi_output_sessions_are_refused():
    from verl_anomseer.timerpo.trainer import grounding_from_extra_fields

    info = {"reward_extra_info": {"grounding": 0.5}}
    assert grounding_from_extra_fields([info, {}], ["u_0_0", "u_1_0"], "grounding")[0] == 0.5
    with pytest.raises(RuntimeError, match="single-turn agent loop"):
        grounding_from_extra_fields([info, info], ["u_0_0", "u_0_1"], "grounding")
    with pytest.raises(RuntimeError, match="no trajectory carries"):
        grounding_from_extra_fields([{}, {}], ["u_0_0", "u_1_0"], "grounding")
    optional = grounding_from_extra_fields([{}, {}], ["u_0_0", "u_1_0"], "grounding", required=False)
    assert np.isnan(optional).all()  # alpha = 0: GRPO, grounding only logged when present


def test_install_trainers_is_idempotent_and_keeps_verls_classes_as_bases():
    from verl.trainer.ppo import v1

    from verl_anomseer.timerpo.batch_order import DataloaderOrderMixin
    from verl_anomseer.timerpo.trainer import GroundingAdvantageMixin, install_trainers

    before = dict(v1.trainer_base.TRAINER_REGISTRY)
    install_trainers(v1)
    assert v1.trainer_base.TRAINER_REGISTRY == before
    assert before["sync"].__mro__[1:4] == (GroundingAdvantageMixin, DataloaderOrderMixin, v1.PPOTrainerSync)
    assert before["colocate_async"].__mro__[3] is v1.PPOTrainerColocateAsync


def _put_policy_columns(tq, partition):
    """The trajectories plus the columns the grounding actor worker writes (the grounding as the reward's)."""
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    from verl_anomseer.timerpo import actor_worker as aw

    batch = _put(tq, partition)
    _, fields = _trajectories()
    nan = float("nan")
    columns = [
        {
            aw.SCORE_FIELD: torch.tensor(
                f["extra_fields"]["reward_extra_info"].get("grounding", nan), dtype=torch.float64
            ),
            aw.ENTROPY_RESPONSE_FIELD: torch.tensor(1.5 if f["response_mask"].any() else nan, dtype=torch.float64),
            aw.ENTROPY_REFERENCE_FIELD: torch.tensor(2.5, dtype=torch.float64),
            aw.SECONDS_FIELD: torch.tensor(0.25 + 0.5 * (i % 2), dtype=torch.float64),
        }
        for i, f in enumerate(fields)
    ]
    tq.kv_batch_put(keys=batch.keys, partition_id=partition, fields=list_of_dict_to_tensordict(columns))
    return batch


@pytest.mark.slow
def test_policy_source_reads_the_actor_workers_columns(transfer_queue):
    """The same advantages as the reward source when the actor worker's column holds the same numbers, plus the
    policy-only metrics (entropies over rows with a response, the slowest rank's seconds)."""
    from verl.trainer.ppo.v1 import get_trainer_cls

    config = compose_ppo("algorithm.adv_estimator=timerpo")
    batch = _put_policy_columns(transfer_queue, "train_policy")
    metrics: dict = {}
    _trainer(get_trainer_cls("sync"), config)._compute_advantage(batch, metrics)
    got = _advantages(transfer_queue, batch)
    expected = _direct(config.algorithm)
    torch.testing.assert_close(got, expected[:, : got.shape[1]], rtol=0, atol=1e-6)
    assert metrics["timerpo/missing_grounding_frac"] == pytest.approx(1 / 6)
    assert metrics["timerpo/grounding_std"] == pytest.approx(np.std([0.2, 0.8, 0.55, 0.1, 0.7]))
    assert metrics["timerpo/mass_entropy_response"] == 1.5 and metrics["timerpo/mass_entropy_reference"] == 2.5
    assert metrics["timing_s/grounding"] == 0.75


def test_policy_source_serves_the_actor_role_with_the_grounding_worker():
    from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls
    from verl.workers.engine_workers import ActorRolloutRefWorker

    from verl_anomseer.timerpo.actor_worker import GroundingActorRolloutRefWorker

    def actor_classes(cls, overrides):
        trainer = _trainer(cls, compose_ppo(*overrides))
        trainer._init_resource_pool_mgr()
        return {role.name: w.__ray_actor_class__ for role, w in trainer.role_worker_mapping.items()}

    hooked = get_trainer_cls("sync")
    assert set(actor_classes(hooked, ["algorithm.adv_estimator=timerpo"]).values()) == {GroundingActorRolloutRefWorker}
    for overrides in (["algorithm.adv_estimator=timerpo", *REWARD], ["algorithm.adv_estimator=grpo"]):
        assert set(actor_classes(hooked, overrides).values()) == {ActorRolloutRefWorker}
    assert actor_classes(PPOTrainerSync, ["algorithm.adv_estimator=timerpo"]) == actor_classes(
        hooked, ["algorithm.adv_estimator=grpo"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("source", ["reward", "policy"])
def test_alpha_zero_run_equals_verls_grpo_step_and_logs_grounding(transfer_queue, source):
    from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls

    timerpo = compose_ppo(
        "algorithm.adv_estimator=timerpo",
        "+algorithm.timerpo.alpha=0.0",
        f"+algorithm.timerpo.grounding.source={source}",
    )
    grpo = compose_ppo("algorithm.adv_estimator=grpo", "algorithm.norm_adv_by_std_in_grpo=false")
    put = _put_policy_columns if source == "policy" else _put
    ours, theirs = put(transfer_queue, f"train_alpha0_{source}"), _put(transfer_queue, f"train_alpha0_grpo_{source}")
    metrics: dict = {}
    _trainer(get_trainer_cls("sync"), timerpo)._compute_advantage(ours, metrics)
    _trainer(PPOTrainerSync, grpo)._compute_advantage(theirs, {})
    torch.testing.assert_close(_advantages(transfer_queue, ours), _advantages(transfer_queue, theirs))
    assert metrics["timerpo/grounding_mean"] == pytest.approx(np.mean([0.2, 0.8, 0.55, 0.1, 0.7]))
