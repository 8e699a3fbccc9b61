"""vLLM offline backend (GPU nodes; install with the ``[gpu]`` extra). vLLM is imported only when chosen."""

from __future__ import annotations

from collections.abc import Iterator

from verl_anomseer.eval.backends.base import Decoding, batched, chat_content
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample


class VLLMBackend:
    def __init__(self, model: str | None, decoding: Decoding, batch_size: int = 64):
        self.model_path, self.decoding, self.batch_size = model, decoding, batch_size
        self.settings = {"backend": "vllm", "model": model, **decoding.as_dict()}
        self.llm = self.processor = None

    def check(self) -> None:
        if not self.model_path:
            raise EvalSetupError("--backend vllm needs --model PATH_OR_NAME (a Qwen2.5-VL checkpoint)")
        try:
            import vllm
        except ImportError as exc:
            raise EvalSetupError("--backend vllm: vllm is not installed; on a GPU node run "
                                 "`pip install 'verl-anomseer[gpu]'`, or use --backend hf") from exc
        from transformers import AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(self.model_path)
            self.llm = vllm.LLM(model=self.model_path, limit_mm_per_prompt={"image": 1})
        except Exception as exc:
            raise EvalSetupError(f"--model {self.model_path}: vLLM could not load it "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]:
        from verl.utils.dataset.vision_utils import process_image
        from vllm import SamplingParams

        params = SamplingParams(temperature=self.decoding.temperature, top_p=self.decoding.top_p,
                                max_tokens=self.decoding.max_new_tokens, seed=None if self.decoding.greedy else seed)
        for batch in batched(samples, self.batch_size):
            requests = [{
                "prompt": self.processor.apply_chat_template([{"role": "user", "content": chat_content(s.prompt)}],
                                                             add_generation_prompt=True, tokenize=False),
                "multi_modal_data": {"image": process_image({"bytes": s.image})},
            } for s in batch]
            outputs = self.llm.generate(requests, params, use_tqdm=True)
            yield from zip(batch, (o.outputs[0].text for o in outputs))
