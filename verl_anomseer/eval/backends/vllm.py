"""vLLM offline backend (GPU nodes; install with the ``[gpu]`` extra). vLLM is imported only when chosen.

All pending prompts of a seed go to one ``LLM.generate`` call (vLLM schedules them itself), or ``batch_size``
at a time when given. Every sampling setting is explicit
(:func:`~verl_anomseer.eval.backends.base.vllm_sampling_kwargs`, the same as the hf backend's) and the engine
ignores the checkpoint's generation_config (``generation_config="vllm"``) unless ``Decoding.use_generation_config``.
Only image inputs are enabled (one per prompt), so no memory is set aside for video.
"""

from __future__ import annotations

from collections.abc import Iterator

from verl_anomseer.eval.backends.base import (
    Decoding,
    batched,
    chat_prompt,
    plot_image,
    stop_token_ids,
    vllm_sampling_kwargs,
)
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample


class VLLMBackend:
    def __init__(
        self,
        model: str | None,
        decoding: Decoding,
        batch_size: int | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
    ):
        self.model_path, self.decoding, self.batch_size = model, decoding, batch_size
        self.engine = {"dtype": dtype, "tensor_parallel_size": tensor_parallel_size, "max_model_len": max_model_len}
        self.settings = {"backend": "vllm", "model": model, **self.engine, **decoding.as_dict()}
        self.llm = self.processor = None
        self.stop_ids: list[int] = []

    def engine_kwargs(self) -> dict:
        """What ``vllm.LLM`` is built with."""
        return {
            "model": self.model_path,
            **self.engine,
            "limit_mm_per_prompt": {"image": 1, "video": 0},
            "generation_config": "auto" if self.decoding.use_generation_config else "vllm",
        }

    def check(self) -> None:
        if not self.model_path:
            raise EvalSetupError("--backend vllm needs --model PATH_OR_NAME (a Qwen2.5-VL checkpoint)")
        try:
            import vllm
        except ImportError as exc:
            raise EvalSetupError(
                "--backend vllm: vllm is not installed; on a GPU node run "
                "`pip install 'verl-anomseer[gpu]'`, or use --backend hf"
            ) from exc
        from transformers import AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(self.model_path)
            self.stop_ids = stop_token_ids(self.model_path, self.processor.tokenizer)
            self.llm = vllm.LLM(**self.engine_kwargs())
        except Exception as exc:
            raise EvalSetupError(
                f"--model {self.model_path}: vLLM could not load it ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            ) from exc

    def sampling_params(self, seed: int):
        from vllm import SamplingParams

        if self.decoding.use_generation_config:
            params = self.llm.get_default_sampling_params()
            params.max_tokens, params.seed = self.decoding.max_new_tokens, seed
            return params
        return SamplingParams(**vllm_sampling_kwargs(self.decoding, seed, self.stop_ids))

    def requests(self, samples: list[Sample]) -> list[dict]:
        """One prompt (chat template applied) with its plot per sample."""
        return [
            {"prompt": chat_prompt(self.processor, s.prompt), "multi_modal_data": {"image": plot_image(s)}}
            for s in samples
        ]

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]:
        params = self.sampling_params(seed)
        for chunk in batched(samples, self.batch_size or max(1, len(samples))):
            outputs = self.llm.generate(self.requests(chunk), params, use_tqdm=True)
            yield from zip(chunk, (o.outputs[0].text for o in outputs))
