"""Hugging Face transformers backend: batched ``generate`` with the Qwen2.5-VL processor and the plot image.

Images go through verl's own :func:`verl.utils.dataset.vision_utils.process_image` (the same resizing as in
training). Greedy by default; with sampling, ``torch.manual_seed`` is set per (seed, batch) so a run is
reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from tqdm.auto import tqdm

from verl_anomseer.eval.backends.base import Decoding, batched, chat_content
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample


class HFBackend:
    def __init__(self, model: str | None, decoding: Decoding, device: str = "auto", batch_size: int = 8):
        self.model_path, self.decoding, self.batch_size = model, decoding, batch_size
        self.device = device
        self.settings = {"backend": "hf", "model": model, **decoding.as_dict()}
        self.model = self.processor = None

    def check(self) -> None:
        """Load the processor and model now, so a bad path fails before any work."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not self.model_path:
            raise EvalSetupError("--backend hf needs --model PATH_OR_NAME (a Qwen2.5-VL checkpoint)")
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.processor = AutoProcessor.from_pretrained(self.model_path)
            self.model = AutoModelForImageTextToText.from_pretrained(self.model_path, dtype="auto")
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad checkpoint
            raise EvalSetupError(f"--model {self.model_path}: does not load as an image-text-to-text model "
                                 f"with a processor ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
        self.model.to(self.device).eval()
        self.processor.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]:
        import torch

        batches = list(batched(samples, self.batch_size))
        for batch in tqdm(batches, desc=f"hf generate (seed {seed})", unit="batch", leave=False):
            inputs = self._inputs(batch)
            if not self.decoding.greedy:
                torch.manual_seed(zlib.crc32(f"{seed}:{batch[0].series_id}".encode()))
            sampling = ({"do_sample": False} if self.decoding.greedy else
                        {"do_sample": True, "temperature": self.decoding.temperature, "top_p": self.decoding.top_p})
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.decoding.max_new_tokens, **sampling)
            new_tokens = out[:, inputs["input_ids"].shape[1]:]
            texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
            yield from zip(batch, texts)

    def _inputs(self, batch: list[Sample]):
        from verl.utils.dataset.vision_utils import process_image

        prompts = [self.processor.apply_chat_template([{"role": "user", "content": chat_content(s.prompt)}],
                                                      add_generation_prompt=True, tokenize=False) for s in batch]
        images = [process_image({"bytes": s.image}) for s in batch]
        return self.processor(text=prompts, images=images, padding=True, return_tensors="pt").to(self.device)
