"""``compute_score`` inside verl's own reward loop on CPU.

The config is composed by Hydra from verl's ``ppo_trainer`` with the overrides a user writes; verl's
``RewardLoopWorker`` (the class main_ppo runs as a Ray actor) loads the function by its ``pkg://`` path and the
``naive`` reward manager scores DataProto items built as the agent loop builds them, tokenized with the tiny
local Qwen2.5-VL tokenizer.
"""

from __future__ import annotations

import pytest
from reward_loop_support import compose_reward_config, score_in_reward_loop

pytestmark = pytest.mark.integration

GT = {"intervals": [[100, 150], [600, 640]], "label": "global point", "length": 1000}
RESPONSES = [
    "<think>two level shifts</think><answer>[[100, 150], [600, 640]]</answer><class>global point</class>",
    "<think>one shift</think><answer>[[90, 140]]</answer><class>contextual</class>",
    "I think it is around 500.",
]


def _score_all(config):
    infos = [{"expcot": "Observation ...", "category": "range", "index": 0}] * len(RESPONSES)
    worker, _, results = score_in_reward_loop(config, RESPONSES, GT, infos)
    return worker, results


def test_naive_reward_manager_runs_compute_score(tiny_vl_model):
    from verl_anomseer.scoring.reward import SCORE_KEYS, compute_score

    worker, results = _score_all(compose_reward_config(tiny_vl_model))
    assert type(worker.reward_manager).__name__ == "NaiveRewardManager"
    for response, result in zip(RESPONSES, results):
        expected = compute_score("anomseer/anomllm/range", response, GT)
        assert result["reward_score"] == pytest.approx(expected["score"])
        info = result["reward_extra_info"]
        assert tuple(info) == SCORE_KEYS
        assert info == expected
    assert results[0]["reward_score"] == 1.0
    assert results[2]["reward_extra_info"]["fmt"] == 0.0


def test_reward_kwargs_reach_compute_score(tiny_vl_model):
    config = compose_reward_config(
        tiny_vl_model,
        "+reward.custom_reward_function.reward_kwargs.weights.loc=1.0",
        "+reward.custom_reward_function.reward_kwargs.weights.cls=0.0",
        "+reward.custom_reward_function.reward_kwargs.weights.fmt=0.0",
        "+reward.custom_reward_function.reward_kwargs.loc_metrics=[aff_f1]",
    )
    _, results = _score_all(config)
    partial = results[1]
    assert partial["reward_score"] == pytest.approx(partial["reward_extra_info"]["aff_f1"])
    assert 0.0 < partial["reward_score"] < 1.0
