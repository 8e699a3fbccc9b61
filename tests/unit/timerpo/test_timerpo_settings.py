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
