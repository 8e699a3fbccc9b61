"""Hugging Face transformers backend: batched ``generate`` with the Qwen2.5-VL processor and the plot image.

Images go through verl's own :func:`verl.utils.dataset.vision_utils.process_image` (the same resizing as in
training). Every sampling setting is explicit (:func:`~verl_anomseer.eval.backends.base.hf_generation_kwargs`):
the checkpoint's generation_config is replaced at load by one that keeps only its special tokens, so nothing of it
leaks into decoding unless ``Decoding.use_generation_config``. With sampling, ``torch.manual_seed`` is set per
(seed, batch) so a run is reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from tqdm.auto import tqdm

from verl_anomseer.eval.backends.base import (
    Decoding,
    batched,
    chat_prompt,
    hf_generation_kwargs,
    plot_image,
    stop_token_ids,
)
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample


class HFBackend:
    def __init__(
        self, model: str | None, decoding: Decoding, device: str = "auto", batch_size: int = 8, dtype: str = "auto"
    ):
        self.model_path, self.decoding, self.batch_size = model, decoding, batch_size
        self.device, self.dtype = device, dtype
        self.settings = {"backend": "hf", "model": model, "dtype": dtype, **decoding.as_dict()}
        self.model = self.processor = None
        self.stop_ids: list[int] = []

    def check(self) -> None:
        """Load the processor and model now, so a bad path fails before any work."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

        if not self.model_path:
            raise EvalSetupError("--backend hf needs --model PATH_OR_NAME (a Qwen2.5-VL checkpoint)")
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.processor = AutoProcessor.from_pretrained(self.model_path)
            self.model = AutoModelForImageTextToText.from_pretrained(self.model_path, dtype=self.dtype)
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad checkpoint
            raise EvalSetupError(
                f"--model {self.model_path}: does not load as an image-text-to-text model "
                f"with a processor ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            ) from exc
        self.model.to(self.device).eval()
        self.processor.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left
        self.stop_ids = stop_token_ids(self.model_path, self.processor.tokenizer)
        if not self.decoding.use_generation_config:
            own = self.model.generation_config
            self.model.generation_config = GenerationConfig(
                bos_token_id=own.bos_token_id, pad_token_id=own.pad_token_id, eos_token_id=self.stop_ids
            )

    def generation_kwargs(self) -> dict:
        """What each ``generate`` call gets besides the inputs."""
        if self.decoding.use_generation_config:
            return {"max_new_tokens": self.decoding.max_new_tokens}
        return hf_generation_kwargs(self.decoding, self.stop_ids)

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]:
        import torch
        from transformers import GenerationConfig

        batches = list(batched(samples, self.batch_size))
        kwargs = self.generation_kwargs()
        config = None if self.decoding.use_generation_config else GenerationConfig(**kwargs)
        for batch in tqdm(batches, desc=f"hf generate (seed {seed})", unit="batch", leave=False):
            inputs = self._inputs(batch)
            torch.manual_seed(zlib.crc32(f"{seed}:{batch[0].series_id}".encode()))
            with torch.inference_mode():
                if config is None:
                    out = self.model.generate(**inputs, **kwargs)
                else:
                    out = self.model.generate(**inputs, generation_config=config)
            new_tokens = out[:, inputs["input_ids"].shape[1] :]
            texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
            yield from zip(batch, texts)

    def _inputs(self, batch: list[Sample]):
        prompts = [chat_prompt(self.processor, s.prompt) for s in batch]
        images = [plot_image(s) for s in batch]
        return self.processor(text=prompts, images=images, padding=True, return_tensors="pt").to(self.device)
