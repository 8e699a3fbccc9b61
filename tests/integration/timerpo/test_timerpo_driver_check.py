"""A timerpo run that cannot supply grounding fails in the driver, before `ray.init`, naming the fix.

Real processes: `python -m verl.trainer.main_ppo` on the cpu_smoke recipe (TimerPO with grounding), where
verl's own `main` calls `verl.utils.config.validate_config` (checked by `verl_anomseer.plugin`) before Ray."""

from __future__ import annotations

import pytest
from main_ppo_support import assert_refused_before_ray, run_cpu_smoke

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("override", "fix"),
    [
        ("reward.custom_reward_function.path=null", "set reward.custom_reward_function.path=pkg://verl_anomseer"),
        ("~reward.custom_reward_function.reward_kwargs.grounding", "reward_kwargs.grounding.similarity=ot"),
    ],
)
def test_timerpo_without_grounding_fails_in_the_driver_before_ray_starts(tmp_path, override, fix):
    result = run_cpu_smoke(tmp_path, override)
    assert_refused_before_ray(result, tmp_path)
    output = result.stdout + result.stderr
    message = next((line for line in result.stderr.splitlines() if line.startswith("verl_anomseer.")), "")
    assert message.startswith("verl_anomseer.timerpo.settings.TimerPOConfigError: algorithm.adv_estimator=timerpo")
    assert fix in message, output[-3000:]
