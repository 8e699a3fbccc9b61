"""A timerpo run that cannot supply grounding (from either source) fails in the driver, before `ray.init`,
naming the fix.

Real processes: `python -m verl.trainer.main_ppo` on the cpu_smoke recipe (TimerPO with grounding), where
verl's own `main` calls `verl.utils.config.validate_config` (checked by `verl_anomseer.plugin`) before Ray."""

from __future__ import annotations

import pytest
from main_ppo_support import assert_refused_before_ray, run_cpu_smoke

pytestmark = pytest.mark.integration


REWARD_SOURCE = "algorithm.timerpo.grounding.source=reward"
REWARD_TERM = "+reward.custom_reward_function.reward_kwargs.grounding.similarity=ot"


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        ((REWARD_SOURCE, "reward.custom_reward_function.path=null"), "reward.custom_reward_function.path=pkg://"),
        ((REWARD_SOURCE,), "reward_kwargs.grounding.similarity=ot"),
        ((REWARD_TERM,), "~reward.custom_reward_function.reward_kwargs.grounding"),
        (("algorithm.rollout_correction.bypass_mode=true",), "bypass_mode=true skips"),
    ],
    ids=["reward-source-without-reward-function", "reward-source-without-term", "both-sources", "bypass-mode"],
)
def test_a_timerpo_run_that_cannot_ground_fails_in_the_driver_before_ray_starts(tmp_path, overrides, fix):
    result = run_cpu_smoke(tmp_path, *overrides)
    assert_refused_before_ray(result, tmp_path)
    output = result.stdout + result.stderr
    message = next((line for line in result.stderr.splitlines() if line.startswith("verl_anomseer.")), "")
    assert message.startswith("verl_anomseer.timerpo.settings.TimerPOConfigError: algorithm."), output[-3000:]
    assert fix in message, output[-3000:]
