"""launch_checks against verl 0.9.1's own code: the micro-batch split (`prepare_micro_batches`), the padding
multiple of a step (`Trainer._get_required_batch_multiple`), and hand-derived replica and batch cases."""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf
from tensordict import TensorDict

from verl_anomseer import launch_checks
from verl_anomseer.launch_checks import LaunchConfigError


def _config(world=4, tp=2, train=128, n=5, mini=128, micro=8, log_prob_micro=8, **extra):
    config = {
        "trainer": {"nnodes": 1, "n_gpus_per_node": world},
        "data": {"train_batch_size": train, "image_key": "images", "train_files": [], "val_files": []},
        "actor_rollout_ref": {
            "model": {
                "path": "never-loaded",
                "use_remove_padding": False,
                "override_config": {"attn_implementation": "sdpa"},
            },
            "actor": {
                "ppo_mini_batch_size": mini,
                "ppo_micro_batch_size_per_gpu": micro,
                "use_kl_loss": True,
                "use_dynamic_bsz": False,
            },
            "ref": {"log_prob_micro_batch_size_per_gpu": log_prob_micro},
            "rollout": {"n": n, "tensor_model_parallel_size": tp, "log_prob_micro_batch_size_per_gpu": log_prob_micro},
        },
    }
    return OmegaConf.merge(config, OmegaConf.from_dotlist([f"{k}={v}" for k, v in extra.items()]))


@pytest.mark.parametrize(
    ("world", "tp", "replicas"), [(1, 2, 0), (4, 2, 2), (8, 2, 4), (1, 1, 1), (6, 4, 1), (8, 1, 8)]
)
def test_rollout_replicas_are_world_size_over_replica_size(world, tp, replicas):
    assert launch_checks.rollout_replicas(_config(world=world, tp=tp)) == replicas


def test_world_size_counts_every_node():
    config = _config(world=4, tp=8, **{"trainer.nnodes": 2})
    assert launch_checks.world_size(config) == 8 and launch_checks.rollout_replicas(config) == 1
    launch_checks.check_rollout_replicas(config)


def test_zero_replicas_are_refused_naming_the_key_and_a_size_that_fits():
    with pytest.raises(
        LaunchConfigError,
        match=r"rollout\.tensor_model_parallel_size=2 .* 0 rollout replicas\. "
        r"Set actor_rollout_ref\.rollout\.tensor_model_parallel_size=1",
    ):
        launch_checks.check_rollout_replicas(_config(world=1, tp=2))


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"world": 3}, "data.train_batch_size=128 x actor_rollout_ref.rollout.n=5 = 640 responses per step"),
        ({"world": 3, "actor_rollout_ref.actor.use_dynamic_bsz": True}, "ppo_mini_batch_size=128 x"),
        ({"micro": 3}, "ppo_micro_batch_size_per_gpu=3 does not divide the 160"),
        ({"log_prob_micro": 6}, "rollout.log_prob_micro_batch_size_per_gpu=6 does not divide the 160"),
        (
            {"world": 8, "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": 32},
            "ref.log_prob_micro_batch_size_per_gpu=32 does not divide the 80",
        ),
    ],
)
def test_batch_sizes_verl_would_assert_on_are_refused_naming_the_key(overrides, key):
    with pytest.raises(LaunchConfigError, match=key.replace(".", r"\.").replace("(", r"\(")):
        launch_checks.check_batch_sizes(_config(**overrides))


def test_dynamic_batches_skip_the_static_micro_batch_rules():
    config = _config(
        micro=3,
        log_prob_micro=7,
        **{
            "actor_rollout_ref.actor.use_dynamic_bsz": True,
            "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz": True,
            "actor_rollout_ref.ref.log_prob_use_dynamic_bsz": True,
        },
    )
    launch_checks.check_batch_sizes(config)


def test_the_reference_micro_batch_is_ignored_without_a_reference_policy():
    config = _config(
        world=8,
        **{"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": 32, "actor_rollout_ref.actor.use_kl_loss": False},
    )
    launch_checks.check_batch_sizes(config)


def test_sequence_parallel_ranks_share_one_data_parallel_slot():
    config = _config(world=8, **{"actor_rollout_ref.actor.ulysses_sequence_parallel_size": 2})
    assert launch_checks.data_parallel_size(config) == 4
    assert "actor_rollout_ref.actor.ulysses_sequence_parallel_size>1" in launch_checks.needs_flash_attn(config)


def _verl_splits_micro_batches(size: int, micro: int) -> bool:
    from verl.utils import tensordict_utils as tu
    from verl.workers.engine.utils import prepare_micro_batches

    data = TensorDict({"input_ids": torch.zeros(size, 1)}, batch_size=[size])
    tu.assign_non_tensor(data, use_dynamic_bsz=False, micro_batch_size_per_gpu=micro)
    try:
        prepare_micro_batches(data)
    except AssertionError:
        return False
    return True


def _verl_responses_per_rank(config) -> int:
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    dp = launch_checks.data_parallel_size(config)
    trainer = SimpleNamespace(config=config, use_critic=False, global_steps=1)
    multiple = PPOTrainer._get_required_batch_multiple(trainer, dp)
    total = config.data.train_batch_size * config.actor_rollout_ref.rollout.n
    return math.ceil(total / multiple) * multiple // dp


def _refusal(config) -> str | None:
    try:
        launch_checks.check_batch_sizes(config)
    except LaunchConfigError as exc:
        return str(exc)
    return None


@given(
    world=st.sampled_from([1, 2, 4, 8]),
    train=st.integers(1, 16),
    n=st.integers(1, 6),
    mini_share=st.integers(1, 4),
    micro=st.integers(1, 12),
)
def test_micro_batch_rule_agrees_with_verls_split(world, train, n, mini_share, micro):
    mini = max(1, train // mini_share)
    config = _config(
        world=world, tp=1, train=train, n=n, mini=mini, micro=micro, log_prob_micro=1, **{"trainer.critic_warmup": 0}
    )
    assert launch_checks.responses_per_rank(config) == _verl_responses_per_rank(config)
    refusal = _refusal(config)
    if (train * n) % world or (mini * n) % world:
        assert refusal is not None
        return
    accepted = _verl_splits_micro_batches(mini * n // world, micro)
    assert (refusal is None) == accepted, refusal


def test_image_key_must_be_set_and_a_column_of_the_local_parquet_files(tmp_path):
    with_images, without = tmp_path / "train.parquet", tmp_path / "test.parquet"
    pq.write_table(pa.table({"prompt": ["p"], "images": [b"x"]}), with_images)
    pq.write_table(pa.table({"prompt": ["p"], "pictures": [b"x"]}), without)
    launch_checks.check_image_key(_config(**{"data.train_files": str(with_images), "data.val_files": "absent.parquet"}))
    with pytest.raises(LaunchConfigError, match=r"data\.image_key='images' is not a column of .*test\.parquet"):
        launch_checks.check_image_key(_config(**{"data.train_files": str(with_images), "data.val_files": str(without)}))
    with pytest.raises(LaunchConfigError, match=r"data\.image_key is empty"):
        launch_checks.check_image_key(_config(**{"data.image_key": "null"}))


def test_flash_attn_needs_are_named_and_refused_without_it(monkeypatch):
    config = _config(**{"actor_rollout_ref.model.use_remove_padding": True})
    del config.actor_rollout_ref.model.override_config.attn_implementation
    needs = launch_checks.needs_flash_attn(config)
    assert needs == [
        "actor_rollout_ref.model.use_remove_padding=true",
        "actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2 (verl's default)",
    ]
    assert launch_checks.needs_flash_attn(_config()) == []
    monkeypatch.setattr(launch_checks, "flash_attn_importable", lambda: False)
    with pytest.raises(
        LaunchConfigError,
        match=r"need\(s\) flash-attn, which does not import here: install it .*"
        r"use_remove_padding=false \+\+actor_rollout_ref\.model\.override_config",
    ):
        launch_checks.check_flash_attn(config)
    monkeypatch.setattr(launch_checks, "flash_attn_importable", lambda: True)
    launch_checks.check_flash_attn(config)


def test_the_flash_attn_resolver_reports_whether_flash_attn_imports():
    config = OmegaConf.create({"use_remove_padding": "${anomseer.flash_attn:}"})
    assert config.use_remove_padding is launch_checks.flash_attn_importable()
    if importlib.util.find_spec("flash_attn") is None:
        assert config.use_remove_padding is False
