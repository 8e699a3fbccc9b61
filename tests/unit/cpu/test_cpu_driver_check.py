"""The CPU backend refuses a config it cannot serve in the driver, before `ray.init`, with one message.

Real processes: `python -m verl.trainer.main_ppo` on the cpu_smoke recipe, where verl's own `main` calls
`verl.utils.config.validate_config` (checked by `verl_anomseer.plugin`) before it starts Ray."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from verl_anomseer.cpu import ENV_FLAG
from verl_anomseer.cpu.config import CPUBackendConfigError, check_training_config

RAY_STARTING = "ray init kwargs"  # main_ppo.run_ppo prints this line just before ray.init


def _smoke(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="verl_anomseer.recipes", version_base=None):
        cfg = compose(config_name="cpu_smoke", overrides=["actor_rollout_ref.model.path=tiny", *overrides])
    GlobalHydra.instance().clear()
    return cfg


def test_training_config_check_reads_the_actor_rollout():
    check_training_config(_smoke())
    with pytest.raises(CPUBackendConfigError, match=r"actor_rollout_ref\.rollout\.name='vllm'"):
        check_training_config(_smoke("actor_rollout_ref.rollout.name=vllm"))


def test_unservable_training_run_fails_in_the_driver_before_ray_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "HYDRA_"))}
    env.update({ENV_FLAG: "1", "RAY_TMPDIR": str(tmp_path / "ray")})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "verl.trainer.main_ppo",
            "--config-path=pkg://verl_anomseer.recipes",
            "--config-name=cpu_smoke",
            "actor_rollout_ref.rollout.tensor_model_parallel_size=2",
            "actor_rollout_ref.model.path=never-loaded",
        ],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert (
        "CPUBackendConfigError: actor_rollout_ref.rollout.tensor_model_parallel_size=2: parallel rollout engines "
        "need GPUs" in result.stderr
    ), output[-3000:]
    assert RAY_STARTING not in output and "RayTaskError" not in output
    assert not (tmp_path / "ray").exists(), "Ray started a session before the config was refused"
