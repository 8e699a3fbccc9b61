"""The HF rollout server on the tiny Qwen2.5-VL, and the configurations the backend refuses.

Oracle for the log-probs: the model's own forward pass over prompt + response, with the M-RoPE position ids
that verl's agent loop computes (`hf_processor(...).get_rope_index`), i.e. what verl's actor recomputes."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from verl_anomseer.cpu.config import CPUBackendConfigError, check_rollout_config
from verl_anomseer.cpu.rollout import HFRolloutServer

SAMPLING = {"temperature": 0.7, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True}


class _Config:
    response_length = 12
    seed = 0


class _ModelConfig:
    def __init__(self, path):
        self.path = str(path)


@pytest.fixture(scope="module")
def server(tiny_vl_model):
    return HFRolloutServer(_Config(), _ModelConfig(tiny_vl_model))


@pytest.fixture(scope="module")
def prompt(tiny_vl_model):
    """Prompt ids and images as verl's agent loop hands them over (processor with verl's rope binding)."""
    from verl.utils.tokenizer import hf_processor

    processor = hf_processor(str(tiny_vl_model))
    image = Image.fromarray((np.random.default_rng(1).random((150, 1000, 3)) * 255).astype("uint8"))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Find the anomalies."}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    return processor, inputs["input_ids"][0].tolist(), [image]


def _oracle_log_probs(server, processor, prompt_ids, response_ids, images, temperature):
    full = torch.tensor([prompt_ids + response_ids])
    vision = processor.image_processor(images=images, return_tensors="pt")
    mm_types = (full == server.model.config.image_token_id).long()
    mask = torch.ones_like(full)
    rope, _ = processor.get_rope_index(
        input_ids=full, attention_mask=mask, image_grid_thw=vision["image_grid_thw"], mm_token_type_ids=mm_types
    )
    positions = torch.cat([torch.arange(full.shape[1])[None, None], rope], dim=0)  # verl: text row + 3 M-RoPE rows
    with torch.no_grad():
        logits = server.model(
            input_ids=full,
            attention_mask=mask,
            position_ids=positions,
            pixel_values=vision["pixel_values"],
            image_grid_thw=vision["image_grid_thw"],
        ).logits[0, len(prompt_ids) - 1 : -1]
    return torch.log_softmax(logits / temperature, -1).gather(-1, torch.tensor(response_ids)[:, None]).squeeze(-1)


def test_generate_with_images_returns_the_actors_log_probs(server, prompt):
    processor, prompt_ids, images = prompt
    out = asyncio.run(server.generate(prompt_ids, SAMPLING, "r1", image_data=images))
    assert 0 < len(out.token_ids) <= _Config.response_length
    assert len(out.log_probs) == len(out.token_ids) and out.stop_reason in ("completed", "length")
    oracle = _oracle_log_probs(server, processor, prompt_ids, out.token_ids, images, SAMPLING["temperature"])
    np.testing.assert_allclose(out.log_probs, oracle.numpy(), atol=1e-5)


def test_the_image_reaches_the_model(server, prompt):
    _, prompt_ids, images = prompt
    greedy = dict(SAMPLING, temperature=0.0)
    blank = [Image.new("RGB", images[0].size, "white")]
    a = asyncio.run(server.generate(prompt_ids, greedy, "r2", image_data=images))
    b = asyncio.run(server.generate(prompt_ids, greedy, "r3", image_data=blank))
    assert a.log_probs != b.log_probs


def test_max_tokens_caps_the_response(server, prompt):
    _, prompt_ids, images = prompt
    out = asyncio.run(
        server.generate(prompt_ids, dict(SAMPLING, max_tokens=3, temperature=0.0), "r4", image_data=images)
    )
    assert len(out.token_ids) <= 3


def test_videos_are_refused(server, prompt):
    _, prompt_ids, _ = prompt
    with pytest.raises(NotImplementedError, match="images only"):
        asyncio.run(server.generate(prompt_ids, SAMPLING, "r5", video_data=[object()]))


def test_sampling_is_seeded_per_prompt_and_request_so_that_each_step_repeats_it(tiny_vl_model, prompt):
    """The k-th request of a step for a prompt samples alike in every step, other prompts in between or not;
    another rollout seed samples differently."""
    _, prompt_ids, images = prompt
    blank = [Image.new("RGB", images[0].size, "white")]

    def step(server, global_steps, image_sets):
        asyncio.run(server.set_global_steps(global_steps))
        return [asyncio.run(server.generate(prompt_ids, SAMPLING, "s", image_data=i)).token_ids for i in image_sets]

    server = HFRolloutServer(_Config(), _ModelConfig(tiny_vl_model))
    first = step(server, 1, [images] * 3)
    assert len({tuple(t) for t in first}) > 1
    again = step(server, 2, [blank, images, blank, images, images])
    assert [again[1], again[3], again[4]] == first and again[0] != again[2]

    class _Seed1(_Config):
        seed = 1

    assert step(HFRolloutServer(_Seed1(), _ModelConfig(tiny_vl_model)), 1, [images] * 3) != first


def test_weight_updates_change_generation_and_unknown_names_are_refused(tiny_vl_model, prompt):
    _, prompt_ids, images = prompt
    server = HFRolloutServer(_Config(), _ModelConfig(tiny_vl_model))
    greedy = dict(SAMPLING, temperature=0.0)
    before = asyncio.run(server.generate(prompt_ids, greedy, "w1", image_data=images)).log_probs
    state = {name: t * 1.5 for name, t in server.model.state_dict().items() if name.endswith("mlp.down_proj.weight")}
    assert state and asyncio.run(server.load_weights(state, global_steps=7)) == len(state)
    after = asyncio.run(server.generate(prompt_ids, greedy, "w2", image_data=images))
    assert after.log_probs != before and after.extra_fields["global_steps"] == 7
    with pytest.raises(KeyError, match="not found in the rollout model"):
        asyncio.run(server.load_weights({"model.no_such.weight": torch.zeros(1)}))


@pytest.fixture(scope="module")
def smoke_rollout():
    """`actor_rollout_ref.rollout` of the cpu_smoke recipe, as Hydra composes it on verl's ppo_trainer."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="verl_anomseer.recipes", version_base=None):
        cfg = compose(config_name="cpu_smoke", overrides=["actor_rollout_ref.model.path=tiny"])
    GlobalHydra.instance().clear()
    return cfg.actor_rollout_ref.rollout


def test_the_smoke_recipe_is_servable_also_as_verls_dataclass(smoke_rollout):
    from verl.utils.config import omega_conf_to_dataclass

    check_rollout_config(smoke_rollout)
    check_rollout_config(omega_conf_to_dataclass(smoke_rollout))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"tensor_model_parallel_size": 2}, "tensor_model_parallel_size"),
        ({"pipeline_model_parallel_size": 2}, "pipeline_model_parallel_size"),
        ({"name": "vllm"}, "name"),
        ({"engine_kwargs": {"vllm": {"enable_sleep_mode": True}}}, "engine_kwargs.vllm"),
        ({"quantization": "fp8"}, "quantization"),
        ({"checkpoint_engine": {"backend": "nccl"}}, "checkpoint_engine.backend"),
        ({"logprobs_mode": "raw_logits"}, "logprobs_mode"),
    ],
)
def test_unservable_configurations_are_refused_naming_the_key(smoke_rollout, override, key):
    from omegaconf import OmegaConf

    bad = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(smoke_rollout)), override)
    with pytest.raises(CPUBackendConfigError, match=f"actor_rollout_ref.rollout.{key}="):
        check_rollout_config(bad)
