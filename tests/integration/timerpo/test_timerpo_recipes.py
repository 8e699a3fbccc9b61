"""Every shipped recipe composes on verl's ppo_trainer, through the Hydra compose API and the real main_ppo CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf
from recipe_support import compose_recipe

from verl_anomseer.recipes import recipe_names
from verl_anomseer.timerpo.settings import TimerPOSettings
from verl_anomseer.timerpo.trainer import require_grounding_source

pytestmark = pytest.mark.integration

BASE = "timerpo_qwen2_5_vl_3b"
MINILM_GROUNDING = {"similarity": "ot", "encoder": "minilm", "eps": 0.08, "n_iter": 50, "tau": 0.5}
POLICY_GROUNDING = {
    "source": "policy",
    "similarity": "ot",
    "eps": 0.08,
    "n_iter": 50,
    "tau": 0.5,
    "max_reference_tokens": 512,
}
ABSENT = "<absent>"
# recipe -> the only leaves (besides trainer.experiment_name) that differ from the 3B TimerPO recipe
ABLATIONS = {
    "grpo_qwen2_5_vl_3b": {"algorithm.timerpo.alpha": 0.0},
    "timerpo_qwen2_5_vl_3b_noproj": {"algorithm.timerpo.projection": "none"},
    "timerpo_qwen2_5_vl_3b_conflict": {"algorithm.timerpo.projection": "conflict"},
    "timerpo_qwen2_5_vl_3b_cosine": {"algorithm.timerpo.grounding.similarity": "cosine"},
    "timerpo_qwen2_5_vl_3b_minilm": {
        "algorithm.timerpo.grounding.source": "reward",
        **{f"reward.custom_reward_function.reward_kwargs.grounding.{k}": v for k, v in MINILM_GROUNDING.items()},
    },
    "timerpo_qwen2_5_vl_3b_alpha0.5": {"algorithm.timerpo.alpha": 0.5},
    "timerpo_qwen2_5_vl_3b_alpha0.7": {"algorithm.timerpo.alpha": 0.7},
    "timerpo_qwen2_5_vl_7b": {"actor_rollout_ref.model.path": "Qwen/Qwen2.5-VL-7B-Instruct"},
}


@pytest.fixture(scope="module")
def composed():
    return {name: compose_recipe(name) for name in recipe_names()}


def _leaves(cfg) -> dict:
    flat = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        else:
            flat[prefix] = node

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return flat


def test_all_recipes_are_shipped(composed):
    assert set(ABLATIONS) | {BASE} <= set(composed)


def test_main_recipe_has_the_authors_hyperparameters(composed):
    cfg = composed[BASE]
    settings = require_grounding_source(cfg)
    assert settings == TimerPOSettings(alpha=0.3, projection="orthogonal", norm_by_std=False)
    assert settings.policy_grounding and dict(cfg.algorithm.timerpo.grounding) == POLICY_GROUNDING
    assert cfg.reward.custom_reward_function.path == "pkg://verl_anomseer.scoring.reward"
    assert "grounding" not in (cfg.reward.custom_reward_function.get("reward_kwargs") or {})
    dataset = (cfg.data.custom_cls.path, cfg.data.custom_cls.name)
    assert dataset == ("pkg://verl_anomseer.data.dataset", "AnomSeerDataset")
    assert cfg.data.image_key == "images" and cfg.data.train_batch_size == 128
    assert cfg.data.max_prompt_length == 1024 and cfg.data.max_response_length == 1024
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert (actor.optim.lr, actor.ppo_mini_batch_size, actor.entropy_coeff) == (1e-6, 128, 0.001)
    assert (actor.use_kl_loss, actor.kl_loss_coef, actor.kl_loss_type) == (True, 0.001, "low_var_kl")
    assert (rollout.n, rollout.val_kwargs.temperature, rollout.val_kwargs.n) == (5, 0.4, 1)
    assert (cfg.trainer.total_epochs, cfg.trainer.n_gpus_per_node, cfg.trainer.use_v1) == (10, 4, True)
    assert cfg.trainer.v1.trainer_mode == "sync"  # no extra switch: the plugin hooks verl's default trainer


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_changes_one_thing(composed, name):
    base, variant = _leaves(composed[BASE]), _leaves(composed[name])
    diff = {
        k: variant.get(k, ABSENT) for k in set(base) | set(variant) if base.get(k, ABSENT) != variant.get(k, ABSENT)
    }
    assert diff.pop("trainer.experiment_name") == name
    assert diff == ABLATIONS[name]
    require_grounding_source(composed[name])


def _cli_config(tmp_path, name: str, *overrides: str) -> dict:
    """The job config printed by `python -m verl.trainer.main_ppo --config-path=pkg://verl_anomseer.recipes
    --config-name=NAME --cfg job OVERRIDES` (about 10 s: a real CLI process)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "verl.trainer.main_ppo",
            "--config-path=pkg://verl_anomseer.recipes",
            f"--config-name={name}",
            "--cfg",
            "job",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"},
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return yaml.safe_load(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_composes_through_the_main_ppo_cli(composed, tmp_path, name):
    """The CLI prints exactly the config the compose API gives."""
    assert _cli_config(tmp_path, name) == OmegaConf.to_container(composed[name], resolve=False)


@pytest.mark.slow
def test_a_cli_override_lands_on_a_dotted_recipe_name(tmp_path):
    name = "timerpo_qwen2_5_vl_3b_alpha0.5"
    cfg = _cli_config(tmp_path, name, "algorithm.timerpo.projection=conflict")
    assert cfg["algorithm"]["adv_estimator"] == "timerpo"
    assert cfg["algorithm"]["timerpo"] == {
        "alpha": 0.5,
        "projection": "conflict",
        "norm_by_std": False,
        "grounding_key": "grounding",
        "grounding": POLICY_GROUNDING,
    }
    assert cfg["trainer"]["experiment_name"] == name
