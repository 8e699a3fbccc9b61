"""``compute_score`` inside verl's own reward loop on CPU.

The config is composed by Hydra from verl's ``ppo_trainer`` with the overrides a user writes; verl's
``RewardLoopWorker`` (the class main_ppo runs as a Ray actor) loads the function by its ``pkg://`` path and the
``naive`` reward manager scores DataProto items built as the agent loop builds them, tokenized with the tiny
local Qwen2.5-VL tokenizer.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.integration

GT = {"intervals": [[100, 150], [600, 640]], "label": "global point", "length": 1000}
RESPONSES = [
    "<think>two level shifts</think><answer>[[100, 150], [600, 640]]</answer><class>global point</class>",
    "<think>one shift</think><answer>[[90, 140]]</answer><class>contextual</class>",
    "I think it is around 500.",
]


def _compose(model_path, *extra):
    from hydra import compose, initialize_config_module

    overrides = [
        f"actor_rollout_ref.model.path={model_path}",
        "reward.custom_reward_function.path=pkg://verl_anomseer.scoring.reward",
        "reward.custom_reward_function.name=compute_score",
        "reward.reward_manager.name=naive",
        *extra,
    ]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def _agent_loop_item(tokenizer, response: str):
    """One trajectory as ``AgentLoopWorker._compute_score`` packs it for the reward loop."""
    import torch
    from tensordict import TensorDict
    from verl import DataProto

    prompt_ids = torch.tensor(tokenizer.encode("<image> find the anomalies", add_special_tokens=False))
    response_ids = torch.tensor(tokenizer.encode(response, add_special_tokens=False))
    input_ids = torch.cat([prompt_ids, response_ids])
    batch = TensorDict(
        {
            "prompts": prompt_ids[None],
            "responses": response_ids[None],
            "attention_mask": torch.ones_like(input_ids)[None],
            "input_ids": input_ids[None],
            "position_ids": torch.arange(len(input_ids))[None],
        },
        batch_size=1,
    )
    row_kwargs = {
        "data_source": "anomseer/anomllm/range",
        "reward_model": {"style": "rule", "ground_truth": GT},
        "extra_info": {"expcot": "Observation ...", "category": "range", "index": 0},
    }
    non_tensor = {k: np.array([v]) for k, v in row_kwargs.items()}
    non_tensor.update({"__num_turns__": np.array([2]), "tool_extra_fields": np.array([{}], dtype=object)})
    return DataProto(batch=batch, non_tensor_batch=non_tensor)


def _score_all(config):
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(config)
    tokenizer = AutoTokenizer.from_pretrained(config.actor_rollout_ref.model.path)
    items = [_agent_loop_item(tokenizer, r) for r in RESPONSES]
    return worker, [worker.loop.run_until_complete(worker.compute_score(item)) for item in items]


def test_naive_reward_manager_runs_compute_score(tiny_vl_model):
    from verl_anomseer.scoring.reward import SCORE_KEYS, compute_score

    worker, results = _score_all(_compose(tiny_vl_model))
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
    config = _compose(
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
