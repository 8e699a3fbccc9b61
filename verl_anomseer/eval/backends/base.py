"""The backend interface and the decoding settings shared by the model backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

from verl_anomseer.eval.samples import Sample
from verl_anomseer.series.prompt import IMAGE_PLACEHOLDER

DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")  # model weights (auto: the checkpoint's)


@dataclass(frozen=True)
class Decoding:
    """Sampling settings, sent explicitly with every request (the checkpoint's generation_config is not read).

    The defaults are what verl's validation rollout sends: greedy (``temperature == 0``; sampling otherwise,
    seeded per run seed), top-p 1, top-k off (-1), repetition penalty 1.0 (verl's agent loop forces it), and
    the recipes' response length (``data.max_response_length``: 1024 tokens). ``use_generation_config``: take
    the sampling settings from the checkpoint's generation_config instead; only the token budget and the seed stay.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    max_new_tokens: int = 1024
    use_generation_config: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def hf_generation_kwargs(decoding: Decoding, stop_token_ids: list[int]) -> dict:
    """`transformers.GenerationConfig` fields for `decoding` (explicit: none is left to the checkpoint).
    transformers disables top-k with 0 where vLLM and verl use -1."""
    sampling = {
        "do_sample": not decoding.greedy,
        "repetition_penalty": decoding.repetition_penalty,
        "max_new_tokens": decoding.max_new_tokens,
        "eos_token_id": list(stop_token_ids),
    }
    if not decoding.greedy:
        sampling.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=max(decoding.top_k, 0))
    return sampling


def vllm_sampling_kwargs(decoding: Decoding, seed: int, stop_token_ids: list[int]) -> dict:
    """`vllm.SamplingParams` fields for `decoding` at run seed `seed` (greedy: temperature 0, no seed)."""
    return {
        "temperature": decoding.temperature,
        "top_p": decoding.top_p,
        "top_k": decoding.top_k,
        "repetition_penalty": decoding.repetition_penalty,
        "max_tokens": decoding.max_new_tokens,
        "stop_token_ids": list(stop_token_ids),
        "seed": None if decoding.greedy else seed,
    }


def stop_token_ids(model_path: str, tokenizer) -> list[int]:
    """Where generation ends, as in verl's rollout: the tokenizer's EOS and the checkpoint's generation_config EOS ids
    (Qwen2.5-VL: <|im_end|> and <|endoftext|>). Only the stop tokens are read from generation_config."""
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        eos = GenerationConfig.from_pretrained(model_path).eos_token_id
    except OSError:  # no generation_config.json
        eos = None
    ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return sorted(ids)


class Backend(Protocol):
    settings: dict

    def check(self) -> None: ...

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]: ...


def chat_prompt(processor, prompt: str) -> str:
    """The row's prompt as one user turn through the processor's chat template, ready for generation."""
    return processor.apply_chat_template(
        [{"role": "user", "content": chat_content(prompt)}], add_generation_prompt=True, tokenize=False
    )


def plot_image(sample: Sample):
    """The sample's PNG through verl's own `process_image` (the resizing training applies)."""
    from verl.utils.dataset.vision_utils import process_image

    return process_image({"bytes": sample.image})


def chat_content(prompt: str) -> list[dict]:
    """The prompt's ``<image>`` placeholder as a structured image part, the rest as text parts."""
    parts: list[dict] = []
    for i, chunk in enumerate(prompt.split(IMAGE_PLACEHOLDER)):
        if i:
            parts.append({"type": "image"})
        if chunk.strip():
            parts.append({"type": "text", "text": chunk})
    return parts


def batched(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
