"""`algorithm.timerpo.*` validation: bad values fail with a message naming the key."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from verl_anomseer.timerpo.settings import TimerPOConfigError, TimerPOSettings


def test_defaults_are_the_authors_run():
    s = TimerPOSettings.from_algorithm_config(OmegaConf.create({"adv_estimator": "timerpo"}))
    assert (s.alpha, s.projection, s.norm_by_std, s.grounding_key) == (0.3, "orthogonal", False, "grounding")
    assert TimerPOSettings.from_algorithm_config(None) == s


def test_reads_a_dictconfig_section():
    algo = OmegaConf.create({"timerpo": {"alpha": 1, "projection": "conflict", "norm_by_std": True}})
    s = TimerPOSettings.from_algorithm_config(algo)
    assert s.alpha == 1.0 and isinstance(s.alpha, float) and s.projection == "conflict" and s.norm_by_std
    assert not TimerPOSettings(alpha=0.0).needs_grounding and s.needs_grounding


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"projection": "orthogonl"}, "projection must be one of orthogonal|none|conflict"),
        ({"alpha": -0.1}, "alpha must be finite and >= 0"),
        ({"alpha": float("nan")}, "alpha must be finite"),
        ({"alpha": "0.3"}, "alpha must be a number"),
        ({"alpha": True}, "alpha must be a number"),
        ({"norm_by_std": "yes"}, "norm_by_std must be true or false"),
        ({"grounding_key": ""}, "grounding_key must be a non-empty string"),
        ({"aplha": 0.3}, r"unknown algorithm.timerpo key\(s\) \['aplha'\]"),
    ],
)
def test_bad_values_are_config_errors(section, match):
    with pytest.raises(TimerPOConfigError, match=match):
        TimerPOSettings.from_algorithm_config(OmegaConf.create({"timerpo": section}))


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"source": "actor"}, "grounding.source must be one of policy|reward"),
        ({"similarity": "l2"}, "grounding.similarity must be one of ot|cosine"),
        ({"eps": 0}, "grounding.eps must be a finite number > 0"),
        ({"tau": float("inf")}, "grounding.tau must be a finite number > 0"),
        ({"n_iter": 0}, "grounding.n_iter must be an integer >= 1"),
        ({"max_reference_tokens": 1.5}, "grounding.max_reference_tokens must be an integer >= 1"),
        ({"epsilon": 0.1}, r"unknown algorithm.timerpo.grounding key\(s\) \['epsilon'\]"),
    ],
)
def test_bad_grounding_values_are_config_errors(section, match):
    with pytest.raises(TimerPOConfigError, match=match):
        TimerPOSettings.from_algorithm_config(OmegaConf.create({"timerpo": {"grounding": section}}))


def test_grounding_defaults_are_the_papers_policy_source():
    s = TimerPOSettings.from_algorithm_config(OmegaConf.create({"timerpo": {"grounding": {"eps": 1}}}))
    assert s.policy_grounding and s.grounding.eps == 1.0 and isinstance(s.grounding.eps, float)
    assert s.grounding.as_request() == {
        "source": "policy",
        "similarity": "ot",
        "eps": 1.0,
        "n_iter": 50,
        "tau": 0.5,
        "max_reference_tokens": 512,
    }


POLICY_REFUSALS = [
    (
        {
            "reward": {
                "custom_reward_function": {
                    "path": "pkg://verl_anomseer.scoring.reward",
                    "reward_kwargs": {"grounding": {"similarity": "ot"}},
                }
            }
        },
        "~reward.custom_reward_function.reward_kwargs.grounding",
    ),
    ({"trainer": {"use_v1": False}}, "trainer.use_v1=true"),
    ({"actor_rollout_ref": {"actor": {"strategy": "megatron"}}}, "strategy=megatron"),
    ({"actor_rollout_ref": {"actor": {"ulysses_sequence_parallel_size": 2}}}, "ulysses_sequence_parallel_size=1"),
    ({"algorithm": {"adv_estimator": "timerpo", "rollout_correction": {"bypass_mode": True}}}, "bypass_mode"),
]


@pytest.mark.parametrize(("extra", "fix"), POLICY_REFUSALS)
def test_policy_source_refuses_what_the_actor_cannot_serve(extra, fix):
    from verl_anomseer.timerpo.trainer import require_grounding_source

    config = OmegaConf.merge({"algorithm": {"adv_estimator": "timerpo"}}, extra)
    with pytest.raises(TimerPOConfigError, match="grounding.source") as info:
        require_grounding_source(config)
    assert fix in str(info.value)
    config = OmegaConf.merge({"algorithm": {"adv_estimator": "timerpo"}, "trainer": {"use_v1": True}})
    assert require_grounding_source(config).policy_grounding  # a plain config passes
