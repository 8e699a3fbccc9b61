"""The grounding term inside verl's own reward loop on CPU (issue item 2).

verl's ``RewardLoopWorker`` loads ``compute_score`` by its ``pkg://`` path from a Hydra-composed config and
its ``naive`` manager calls it from executor threads; with ``reward_kwargs.grounding`` set every sample
gets a ``grounding`` extra equal to ``grounding_score`` against its ``extra_info["expcot"]`` (NaN when the
sample has none), and without it the extras are unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.integration

GT = {"intervals": [[410, 415]], "label": "global point", "length": 1000}
EXPCOT = "Observation: the global z-score peaks at 6.3 at index 412. Conclusion: a global point anomaly at [410, 415)."
SAMPLES = [  # (response, expcot)
    ("<think>spike at 412</think><answer>[[410, 415]]</answer><class>global point</class>", EXPCOT),
    ("<think>the period changes</think><answer>[[300, 420]]</answer><class>seasonal</class>", EXPCOT),
    ("", EXPCOT),
    ("<think>spike</think><answer>[]</answer><class>normal</class>", None),
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


def _item(tokenizer, response: str, expcot):
    """One trajectory packed as verl's agent loop packs it for the reward loop."""
    import torch
    from tensordict import TensorDict
    from verl import DataProto

    prompt_ids = torch.tensor(tokenizer.encode("<image> find the anomalies", add_special_tokens=False))
    response_ids = torch.tensor(tokenizer.encode(response, add_special_tokens=False), dtype=torch.long)
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
    extra_info = {"category": "range", "index": 0} | ({"expcot": expcot} if expcot else {})
    row = {
        "data_source": "anomseer/anomllm/range",
        "reward_model": {"style": "rule", "ground_truth": GT},
        "extra_info": extra_info,
    }
    non_tensor = {k: np.array([v]) for k, v in row.items()}
    non_tensor.update({"__num_turns__": np.array([2]), "tool_extra_fields": np.array([{}], dtype=object)})
    return DataProto(batch=batch, non_tensor_batch=non_tensor)


def _run(config):
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(config)
    tokenizer = AutoTokenizer.from_pretrained(config.actor_rollout_ref.model.path)
    out = []
    for response, expcot in SAMPLES:
        result = worker.loop.run_until_complete(worker.compute_score(_item(tokenizer, response, expcot)))
        # what the model's text is after verl's detokenization (the string compute_score received)
        text = tokenizer.decode(tokenizer.encode(response, add_special_tokens=False), skip_special_tokens=True)
        out.append((text, result))
    return out


def test_reward_loop_adds_the_grounding_extra(tiny_vl_model):
    from verl_anomseer.grounding.reward_term import grounding_score
    from verl_anomseer.scoring.reward import SCORE_KEYS

    settings = {"similarity": "ot", "encoder": "minilm", "tau": 0.5}  # the recipes' default encoder
    overrides = [f"+reward.custom_reward_function.reward_kwargs.grounding.{k}={v}" for k, v in settings.items()]
    results = _run(_compose(tiny_vl_model, *overrides))
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

    for _, result in _run(_compose(tiny_vl_model)):
        assert tuple(result["reward_extra_info"]) == SCORE_KEYS
