"""Every shipped recipe, as main_ppo's CLI prints it (`--cfg job`, tests/support/recipe_cli_support.py), through
verl's own `validate_config` (with the plugin's driver checks in front, as `main_ppo` calls it) at 1, 4 and 8 GPUs."""

from __future__ import annotations

import pytest
from main_ppo_support import assert_refused_before_ray, run_cpu_smoke
from omegaconf import OmegaConf
from recipe_cli_support import printed_job_configs
from recipe_support import validate_like_main_ppo

from verl_anomseer.launch_checks import FLASH_ATTN_FIX, LaunchConfigError, flash_attn_importable, needs_flash_attn
from verl_anomseer.recipes import recipe_names

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TP = "actor_rollout_ref.rollout.tensor_model_parallel_size"
MICRO = "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu"
# recipe -> what the checks say at 1, 4 and 8 GPUs (None: accepted; else a key the refusal names).
# Every other recipe is the authors' 4-GPU layout: tensor parallel 2, refused on one GPU.
EXPECTED = {
    "timerpo_qwen2_5_vl_3b_1gpu": (None, None, None),
    "timerpo_qwen2_5_vl_3b_8gpu": (None, None, None),
    "timerpo_qwen2_5_vl_7b_8gpu": (TP, None, None),
    # one logical device slot: more simulated GPUs leave each rank 16 / W responses, fewer than the micro-batch
    "cpu_smoke": (None, MICRO, MICRO),
}
AUTHORS_LAYOUT = (TP, None, None)
SDPA_KEYS = (
    "actor_rollout_ref.model.use_remove_padding",
    "actor_rollout_ref.model.override_config.attn_implementation",
)
SDPA = dict(zip(SDPA_KEYS, (False, "sdpa")))


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[str, dict]:
    """Every recipe's job config as main_ppo's CLI prints it."""
    return printed_job_configs(recipe_names(), tmp_path_factory.mktemp("cli"))


def _at(printed: dict, name: str, gpus: int, **overrides):
    config = OmegaConf.create(printed[name])
    config.trainer.nnodes, config.trainer.n_gpus_per_node = 1, gpus
    for key, value in overrides.items():
        OmegaConf.update(config, key, value, force_add=True)
    return config


def test_each_printed_config_is_its_own_recipe(printed):
    assert {name: config["trainer"]["experiment_name"] for name, config in printed.items()} == {
        name: name for name in recipe_names()
    }


@pytest.mark.parametrize("name", recipe_names())
@pytest.mark.parametrize(("gpus", "column"), [(1, 0), (4, 1), (8, 2)])
def test_recipe_at_a_simulated_world_size(printed, name, gpus, column):
    """Recipes that need flash-attn get the documented SDPA fix where it does not import (tested below)."""
    config = _at(printed, name, gpus)
    if needs_flash_attn(config) and not flash_attn_importable():
        config = _at(printed, name, gpus, **SDPA)
    expected = EXPECTED.get(name, AUTHORS_LAYOUT)[column]
    if expected is None:
        validate_like_main_ppo(config)
    else:
        with pytest.raises(LaunchConfigError, match=expected.replace(".", r"\.")):
            validate_like_main_ppo(config)


def test_the_1gpu_recipe_has_one_replica_and_leaves_remove_padding_to_flash_attn(printed):
    from verl_anomseer.launch_checks import rollout_replicas

    config = _at(printed, "timerpo_qwen2_5_vl_3b_1gpu", 1)
    assert rollout_replicas(config) == 1
    assert config.actor_rollout_ref.model.use_remove_padding is flash_attn_importable()
    assert config.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert needs_flash_attn(config) == (
        [] if not flash_attn_importable() else ["actor_rollout_ref.model.use_remove_padding=true"]
    )


def test_the_authors_recipe_runs_as_shipped_and_remove_padding_follows_flash_attn(printed):
    config = _at(printed, "timerpo_qwen2_5_vl_3b", 4)
    assert config.actor_rollout_ref.model.use_remove_padding is flash_attn_importable()
    assert config.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    validate_like_main_ppo(config)


@pytest.mark.skipif(flash_attn_importable(), reason="flash-attn imports here: remove-padding can run")
def test_remove_padding_without_flash_attn_is_refused_naming_the_fix(printed):
    with pytest.raises(LaunchConfigError, match="use_remove_padding=true.*need") as refused:
        validate_like_main_ppo(_at(printed, "timerpo_qwen2_5_vl_3b", 4, **{SDPA_KEYS[0]: True}))
    assert FLASH_ATTN_FIX in str(refused.value)


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_saves_a_hugging_face_copy(printed, name):
    assert "hf_model" in _at(printed, name, 1).actor_rollout_ref.actor.checkpoint.save_contents


def test_a_real_main_ppo_refuses_a_batch_it_cannot_split_before_ray_starts(tmp_path):
    result = run_cpu_smoke(tmp_path, "trainer.n_gpus_per_node=4")
    assert_refused_before_ray(result, tmp_path)
    assert "LaunchConfigError: actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8 does not divide the 4" in (
        result.stderr
    ), (result.stdout + result.stderr)[-3000:]
