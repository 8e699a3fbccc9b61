"""The hf and vllm backends build the same request, equal to verl's validation rollout by default, and
transformers' own merge of generation settings never lets the checkpoint's generation_config in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from recipe_support import compose_config
from transformers import GenerationConfig
from transformers.generation.utils import GenerationMixin

from verl_anomseer.eval.backends.base import Decoding, hf_generation_kwargs, vllm_sampling_kwargs
from verl_anomseer.eval.backends.vllm import VLLMBackend

STOP = [151643, 151645]
# a generation_config.json as Qwen2.5-VL-Instruct ships it: sampling settings that verl's rollout overrides
CHECKPOINT = GenerationConfig(
    do_sample=True,
    temperature=0.1,
    top_p=0.001,
    top_k=1,
    repetition_penalty=1.05,
    no_repeat_ngram_size=3,
    bos_token_id=151643,
    pad_token_id=151643,
    eos_token_id=STOP,
)


def _from_hf(kwargs: dict) -> dict:
    sampling = kwargs["do_sample"]
    return {
        "temperature": kwargs["temperature"] if sampling else 0.0,
        "top_p": kwargs.get("top_p", 1.0),
        "top_k": kwargs.get("top_k", 0) or -1,
        "repetition_penalty": kwargs["repetition_penalty"],
        "max_new_tokens": kwargs["max_new_tokens"],
        "stop": kwargs["eos_token_id"],
    }


def _from_vllm(kwargs: dict) -> dict:
    return {
        "temperature": kwargs["temperature"],
        "top_p": kwargs["top_p"],
        "top_k": kwargs["top_k"],
        "repetition_penalty": kwargs["repetition_penalty"],
        "max_new_tokens": kwargs["max_tokens"],
        "stop": kwargs["stop_token_ids"],
    }


def test_the_defaults_are_verls_validation_rollout_and_the_recipes_response_length():
    from verl.workers.config.rollout import RolloutConfig

    rollout = compose_config("verl.trainer.config", "ppo_trainer").actor_rollout_ref.rollout
    recipe = compose_config("verl_anomseer.recipes", "timerpo_qwen2_5_vl_3b")
    expected = {
        "temperature": rollout.val_kwargs.temperature,
        "top_p": rollout.val_kwargs.top_p,
        "top_k": rollout.val_kwargs.top_k,
        "repetition_penalty": RolloutConfig.repetition_penalty,
        "max_new_tokens": recipe.data.max_response_length,
        "stop": STOP,
    }
    assert expected == {
        "temperature": 0,
        "top_p": 1.0,
        "top_k": -1,
        "repetition_penalty": 1.0,
        "max_new_tokens": 1024,
        "stop": STOP,
    }
    assert _from_hf(hf_generation_kwargs(Decoding(), STOP)) == expected
    assert _from_vllm(vllm_sampling_kwargs(Decoding(), 0, STOP)) == expected


@pytest.mark.parametrize(
    "decoding",
    [
        Decoding(),
        Decoding(max_new_tokens=48),
        Decoding(temperature=0.4),
        Decoding(temperature=1.0, top_p=0.9, top_k=20),
        Decoding(temperature=0.7, repetition_penalty=1.1),
    ],
)
def test_hf_and_vllm_requests_carry_the_same_settings(decoding):
    assert _from_hf(hf_generation_kwargs(decoding, STOP)) == _from_vllm(vllm_sampling_kwargs(decoding, 3, STOP))
    assert vllm_sampling_kwargs(decoding, 3, STOP)["seed"] == (None if decoding.greedy else 3)


def _effective(model_config: GenerationConfig, requested: GenerationConfig) -> GenerationConfig:
    """transformers' own merge (`generate` -> `_prepare_generation_config`) of a model's config and a request."""
    model = SimpleNamespace(generation_config=model_config)
    return GenerationMixin._prepare_generation_config(model, requested)[0]


def test_an_explicit_request_over_the_backends_neutral_config_ignores_the_checkpoint():
    neutral = GenerationConfig(
        bos_token_id=CHECKPOINT.bos_token_id, pad_token_id=CHECKPOINT.pad_token_id, eos_token_id=STOP
    )  # what HFBackend.check installs
    for decoding in (Decoding(), Decoding(temperature=0.4)):
        got = _effective(neutral, GenerationConfig(**hf_generation_kwargs(decoding, STOP)))
        assert (got.do_sample, got.repetition_penalty, got.no_repeat_ngram_size or 0) == (not decoding.greedy, 1.0, 0)
        assert got.eos_token_id == STOP
    sampled = _effective(neutral, GenerationConfig(**hf_generation_kwargs(Decoding(temperature=0.4), STOP)))
    assert (sampled.temperature, sampled.top_p, sampled.top_k) == (0.4, 1.0, 0)


def test_the_checkpoints_config_leaks_into_any_field_a_request_leaves_unset():
    """Why HFBackend replaces the model's generation_config: transformers fills unset fields from it."""
    got = _effective(CHECKPOINT, GenerationConfig(do_sample=False, max_new_tokens=8))
    assert got.repetition_penalty == 1.05 and got.no_repeat_ngram_size == 3


def test_vllm_engine_ignores_generation_config_and_reserves_only_images():
    backend = VLLMBackend("m", Decoding(), dtype="bfloat16", tensor_parallel_size=2, max_model_len=4096)
    assert backend.engine_kwargs() == {
        "model": "m",
        "dtype": "bfloat16",
        "tensor_parallel_size": 2,
        "max_model_len": 4096,
        "limit_mm_per_prompt": {"image": 1, "video": 0},
        "generation_config": "vllm",
    }
    asked = VLLMBackend("m", Decoding(use_generation_config=True))
    assert asked.engine_kwargs()["generation_config"] == "auto"


class _RecordingLLM:
    def __init__(self):
        self.calls = []

    def generate(self, requests, params, use_tqdm):
        self.calls.append(len(requests))
        return [SimpleNamespace(outputs=[SimpleNamespace(text=r["prompt"])]) for r in requests]


@pytest.mark.parametrize(("batch_size", "calls"), [(None, [7]), (3, [3, 3, 1])])
def test_vllm_gets_all_prompts_of_a_seed_in_one_call_unless_chunked(monkeypatch, batch_size, calls):
    backend = VLLMBackend("m", Decoding(), batch_size=batch_size)
    backend.llm = _RecordingLLM()
    monkeypatch.setattr(backend, "sampling_params", lambda seed: None)
    monkeypatch.setattr(backend, "requests", lambda samples: [{"prompt": s} for s in samples])
    samples = [f"s{i}" for i in range(7)]
    assert list(backend.generate(samples, seed=0)) == [(s, s) for s in samples]
    assert backend.llm.calls == calls
