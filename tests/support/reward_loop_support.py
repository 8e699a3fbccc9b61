"""Drive verl's real reward loop (`RewardLoopWorker`, the naive manager) the way the agent loop does."""

from __future__ import annotations

from typing import Any

import numpy as np

DATA_SOURCE = "anomseer/anomllm/range"


def compose_reward_config(model_path, *extra: str):
    """verl's `ppo_trainer` config with our reward function and the naive manager (Hydra compose API)."""
    from recipe_support import compose_ppo

    return compose_ppo(
        f"actor_rollout_ref.model.path={model_path}",
        "reward.custom_reward_function.path=pkg://verl_anomseer.scoring.reward",
        "reward.custom_reward_function.name=compute_score",
        "reward.reward_manager.name=naive",
        *extra,
    )


def agent_loop_item(tokenizer, response: str, ground_truth: dict, extra_info: dict[str, Any]):
    """One trajectory packed as `AgentLoopWorker._compute_score` packs it for the reward loop."""
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
    row = {
        "data_source": DATA_SOURCE,
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": extra_info,
    }
    non_tensor = {k: np.array([v]) for k, v in row.items()}
    non_tensor.update({"__num_turns__": np.array([2]), "tool_extra_fields": np.array([{}], dtype=object)})
    return DataProto(batch=batch, non_tensor_batch=non_tensor)


def score_in_reward_loop(config, responses: list[str], ground_truth: dict, extra_infos: list[dict]):
    """(worker, tokenizer, results): each response scored by a real `RewardLoopWorker` on its own loop."""
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(config)
    tokenizer = AutoTokenizer.from_pretrained(config.actor_rollout_ref.model.path)
    results = [
        worker.loop.run_until_complete(worker.compute_score(agent_loop_item(tokenizer, r, ground_truth, info)))
        for r, info in zip(responses, extra_infos, strict=True)
    ]
    return worker, tokenizer, results
