"""The CPU backend refuses a config it cannot serve in the driver, before `ray.init`, with one message.

Real processes: `python -m verl.trainer.main_ppo` on the cpu_smoke recipe, where verl's own `main` calls
`verl.utils.config.validate_config` (checked by `verl_anomseer.plugin`) before it starts Ray."""

from __future__ import annotations

import pytest
from main_ppo_support import assert_refused_before_ray, run_cpu_smoke
from recipe_support import compose_recipe

from verl_anomseer.cpu.config import CPUBackendConfigError, check_training_config


def _smoke(*overrides: str):
    return compose_recipe("cpu_smoke", "actor_rollout_ref.model.path=tiny", *overrides)


def test_training_config_check_reads_the_actor_rollout():
    check_training_config(_smoke())
    with pytest.raises(CPUBackendConfigError, match=r"actor_rollout_ref\.rollout\.name='vllm'"):
        check_training_config(_smoke("actor_rollout_ref.rollout.name=vllm"))


def test_unservable_training_run_fails_in_the_driver_before_ray_starts(tmp_path):
    result = run_cpu_smoke(tmp_path, "actor_rollout_ref.rollout.tensor_model_parallel_size=2")
    assert_refused_before_ray(result, tmp_path)
    output = result.stdout + result.stderr
    assert (
        "CPUBackendConfigError: actor_rollout_ref.rollout.tensor_model_parallel_size=2: parallel rollout engines "
        "need GPUs" in result.stderr
    ), output[-3000:]
