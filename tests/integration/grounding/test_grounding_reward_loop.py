"""The grounding term inside verl's own reward loop on CPU (issue item 2).

verl's ``RewardLoopWorker`` loads ``compute_score`` by its ``pkg://`` path from a Hydra-composed config and
its ``naive`` manager calls it from executor threads; with ``reward_kwargs.grounding`` set every sample
gets a ``grounding`` extra equal to ``grounding_score`` against its ``extra_info["expcot"]`` (NaN when the
sample has none), and without it the extras are unchanged.
"""

from __future__ import annotations

import math

import pytest
from reward_loop_support import compose_reward_config, score_in_reward_loop

pytestmark = pytest.mark.integration

GT = {"intervals": [[410, 415]], "label": "global point", "length": 1000}
EXPCOT = "Observation: the global z-score peaks at 6.3 at index 412. Conclusion: a global point anomaly at [410, 415)."
SAMPLES = [  # (response, expcot)
    ("<think>spike at 412</think><answer>[[410, 415]]</answer><class>global point</class>", EXPCOT),
    ("<think>the period changes</think><answer>[[300, 420]]</answer><class>seasonal</class>", EXPCOT),
    ("", EXPCOT),
    ("<think>spike</think><answer>[]</answer><class>normal</class>", None),
]


def _run(config):
    """(text compute_score received after verl's detokenization, result) per sample."""
    infos = [{"category": "range", "index": 0} | ({"expcot": e} if e else {}) for _, e in SAMPLES]
    _, tokenizer, results = score_in_reward_loop(config, [r for r, _ in SAMPLES], GT, infos)
    texts = [
        tokenizer.decode(tokenizer.encode(r, add_special_tokens=False), skip_special_tokens=True) for r, _ in SAMPLES
    ]
    return list(zip(texts, results, strict=True))


def test_reward_loop_adds_the_grounding_extra(tiny_vl_model):
    from verl_anomseer.grounding.reward_term import grounding_score
    from verl_anomseer.scoring.reward import SCORE_KEYS

    settings = {"similarity": "ot", "encoder": "minilm", "tau": 0.5}  # the recipes' default encoder
    overrides = [f"+reward.custom_reward_function.reward_kwargs.grounding.{k}={v}" for k, v in settings.items()]
    results = _run(compose_reward_config(tiny_vl_model, *overrides))
    for (text, result), (_, expcot) in zip(results, SAMPLES):
        info = result["reward_extra_info"]
        assert tuple(info) == SCORE_KEYS + ("grounding",)
        if expcot is None:
            assert math.isnan(info["grounding"])
        else:
            assert info["grounding"] == pytest.approx(grounding_score(text, expcot, settings), abs=1e-6)
            assert 0.0 <= info["grounding"] <= 1.0
    assert results[2][1]["reward_extra_info"]["grounding"] == pytest.approx(math.exp(-2.0))  # empty response
    assert results[0][1]["reward_extra_info"]["grounding"] > results[2][1]["reward_extra_info"]["grounding"]


def test_without_grounding_the_extras_are_unchanged(tiny_vl_model):
    from verl_anomseer.scoring.reward import SCORE_KEYS

    for _, result in _run(compose_reward_config(tiny_vl_model)):
        assert tuple(result["reward_extra_info"]) == SCORE_KEYS
