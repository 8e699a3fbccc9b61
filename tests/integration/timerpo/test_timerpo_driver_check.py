"""A timerpo run that cannot supply grounding fails in the driver, before `ray.init`, naming the fix.

Real processes: `python -m verl.trainer.main_ppo` on the cpu_smoke recipe (TimerPO with grounding), where
verl's own `main` calls `verl.utils.config.validate_config` (checked by `verl_anomseer.plugin`) before Ray."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

RAY_STARTING = "ray init kwargs"  # main_ppo.run_ppo prints this line just before ray.init


@pytest.mark.parametrize(
    ("override", "fix"),
    [
        ("reward.custom_reward_function.path=null", "set reward.custom_reward_function.path=pkg://verl_anomseer"),
        ("~reward.custom_reward_function.reward_kwargs.grounding", "reward_kwargs.grounding.similarity=ot"),
    ],
)
def test_timerpo_without_grounding_fails_in_the_driver_before_ray_starts(tmp_path, override, fix):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "HYDRA_"))}
    env.update({"VERL_ANOMSEER_CPU": "1", "RAY_TMPDIR": str(tmp_path / "ray")})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "verl.trainer.main_ppo",
            "--config-path=pkg://verl_anomseer.recipes",
            "--config-name=cpu_smoke",
            "actor_rollout_ref.model.path=never-loaded",
            override,
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
    message = next((line for line in result.stderr.splitlines() if line.startswith("verl_anomseer.")), "")
    assert message.startswith("verl_anomseer.timerpo.settings.TimerPOConfigError: algorithm.adv_estimator=timerpo")
    assert fix in message, output[-3000:]
    assert RAY_STARTING not in output and "RayTaskError" not in output
    assert not (tmp_path / "ray").exists(), "Ray started a session before the config was refused"
