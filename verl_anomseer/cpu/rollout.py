"""The `hf` rollout for verl 0.9.1: Hugging Face `generate()` behind verl's token-in/token-out server API.

Three pieces, registered through verl's own hooks by `register()`:
- `HFRolloutServer`, a Ray actor per replica: loads the model (and, for vision-language models, the
  processor) from `actor_rollout_ref.model.path`; `generate(prompt_ids, sampling_params, image_data=...)`
  runs the image processor on the AgentLoop's images so `pixel_values`/`image_grid_thw` reach the model,
  samples up to `max_tokens` (default `rollout.response_length`) and returns per-token log-probs
  `log softmax(logits / T)` of the sampled tokens (vLLM's `processed_logprobs`). Sampling is seeded per request
  by `sample_seed`: the k-th request of a step for a given prompt and image draws the same random numbers in every
  step, whatever order the requests arrive in, so fixed weights give exactly the same rollouts each epoch.
- `HFReplica` (`RolloutReplicaRegistry["hf"]`): launches that actor next to the hybrid actor workers.
- `HFServerAdapter` (verl's rollout registry, `("hf", "async")`): lives in the actor worker and pushes the
  actor's weights into the server after each update (`update_weights`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from typing import Any

import ray
import torch
from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput

from .config import ROLLOUT_NAME, check_rollout_config

logger = logging.getLogger(__name__)
ADAPTER_FQN = f"{__name__}.HFServerAdapter"


def server_actor_name(replica_rank: int) -> str:
    return f"anomseer_hf_rollout_{replica_rank}"


def prompt_key(prompt_ids: list[int], vision: dict) -> bytes:
    """A digest of a request's prompt: its token ids and, when it has images, their pixels."""
    digest = hashlib.blake2b(torch.tensor(prompt_ids, dtype=torch.int64).numpy().tobytes(), digest_size=16)
    if "pixel_values" in vision:
        digest.update(vision["pixel_values"].float().contiguous().numpy().tobytes())
    return digest.digest()


def sample_seed(seed: int, key: bytes, k: int) -> int:
    """The sampling seed of the `k`-th request in a step for the prompt with digest `key`, under rollout `seed`."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{k}:".encode() + key, digest_size=8).digest(), "little") >> 1


def _model_path(model_config: Any) -> str:
    return getattr(model_config, "local_path", None) or model_config.path


def load_rollout_model(path: str):
    """(model, processor or None) for `path`: an image-text-to-text model with its processor when the
    config has a vision tower, else a causal LM; float32, eval mode."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

    config = AutoConfig.from_pretrained(path)
    if getattr(config, "vision_config", None) is not None:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(path)
    else:
        model, processor = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), None
    return model.eval(), processor


class HFRolloutServer:
    """Token-in/token-out generation with Hugging Face `generate()`, one request at a time."""

    def __init__(self, config: Any, model_config: Any) -> None:
        self.config = config
        self.model, self.processor = load_rollout_model(_model_path(model_config))
        generation = self.model.generation_config
        self.eos_token_id = generation.eos_token_id
        self.pad_token_id = generation.pad_token_id if generation.pad_token_id is not None else 0
        self.global_steps: int | None = None
        self._lock = asyncio.Lock()
        self._seed = int(getattr(config, "seed", 0) or 0)
        self._requests: dict[bytes, int] = {}  # prompt key -> requests for it seen in step `_counted_step`
        self._counted_step: int | None = None

    def _vision_inputs(self, image_data: list | None, video_data: list | None, mm_kwargs: dict | None) -> dict:
        if video_data:
            raise NotImplementedError("The CPU backend's HF rollout takes images only, not videos.")
        if not image_data:
            return {}
        if self.processor is None:
            raise ValueError(f"Prompt has {len(image_data)} image(s) but the rollout model is text-only.")
        vision = self.processor.image_processor(images=list(image_data), return_tensors="pt", **(mm_kwargs or {}))
        return {"pixel_values": vision["pixel_values"], "image_grid_thw": vision["image_grid_thw"]}

    @torch.no_grad()
    def _generate(self, prompt_ids: list[int], sampling_params: dict, vision: dict) -> TokenOutput:
        key = prompt_key(prompt_ids, vision)
        if self._counted_step != self.global_steps:  # a new step: count each prompt's requests from 0 again
            self._counted_step, self._requests = self.global_steps, {}
        k = self._requests.get(key, 0)
        self._requests[key] = k + 1
        torch.manual_seed(sample_seed(self._seed, key, k))
        params = dict(sampling_params or {})
        max_new = int(params.get("max_tokens") or params.get("max_new_tokens") or self.config.response_length)
        temperature = float(params.get("temperature", 1.0) or 0.0)
        top_p = float(params.get("top_p", 1.0) or 1.0)
        top_k = int(params.get("top_k", -1) or -1)
        sample = temperature > 0 and params.get("do_sample", True)
        input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long)
        if vision:  # marks the image tokens, so that generate() uses M-RoPE positions as verl's actor does
            vision = dict(vision, mm_token_type_ids=(input_ids == self.model.config.image_token_id).long())
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            **vision,
            max_new_tokens=max_new,
            do_sample=bool(sample),
            temperature=temperature if sample else None,
            top_p=top_p if sample else None,
            top_k=top_k if sample and top_k > 0 else 0,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        response = out.sequences[0, input_ids.shape[1] :]
        scale = temperature if sample else 1.0
        logits = torch.stack([step[0] for step in out.logits]).float() / scale
        log_probs = torch.log_softmax(logits, dim=-1).gather(-1, response[:, None]).squeeze(-1)
        finished = len(response) < max_new or (len(response) and int(response[-1]) == self.eos_token_id)
        return TokenOutput(
            token_ids=response.tolist(),
            log_probs=log_probs.tolist(),
            stop_reason="completed" if finished else "length",
            extra_fields={"global_steps": self.global_steps},
        )

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict,
        request_id: str,
        image_data: list | None = None,
        video_data: list | None = None,
        mm_processor_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> TokenOutput:
        vision = self._vision_inputs(image_data, video_data, mm_processor_kwargs)
        async with self._lock:  # one generate at a time; the event loop stays free for control calls
            return await asyncio.to_thread(self._generate, prompt_ids, sampling_params, vision)

    async def load_weights(self, state_dict: dict[str, torch.Tensor], global_steps: int | None = None) -> int:
        """Copy the actor's weights in; every received name must exist in the rollout model."""
        async with self._lock:
            own = self.model.state_dict()
            unknown = sorted(set(state_dict) - set(own))
            if unknown:
                raise KeyError(f"Actor weights not found in the rollout model: {unknown[:5]} (of {len(unknown)})")
            self.model.load_state_dict(state_dict, strict=False)
            if global_steps is not None:
                self.global_steps = global_steps
        return len(state_dict)

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    # Memory management and partial rollout have nothing to do on CPU.
    async def wake_up(self, *args, **kwargs) -> None:
        pass

    async def sleep(self, *args, **kwargs) -> None:
        pass

    async def clear_kv_cache(self) -> None:
        pass

    async def release_kv_cache(self) -> None:
        pass

    async def resume_kv_cache(self) -> None:
        pass

    async def resume_generation(self) -> None:
        pass

    async def abort_all_requests(self, *args, **kwargs) -> dict:
        return {}

    async def start_profile(self, **kwargs) -> None:
        pass

    async def stop_profile(self) -> None:
        pass


class HFReplica(RolloutReplica):
    """One `HFRolloutServer` actor per replica, beside the hybrid actor workers (no GPU resources)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_rollout_config(self.config)

    async def launch_servers(self) -> None:
        name = server_actor_name(self.replica_rank)
        server = (
            ray.remote(HFRolloutServer)
            .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
            .remote(config=self.config, model_config=self.model_config)
        )
        await server.set_global_steps.remote(None)  # surfaces load errors here, not at the first request
        self.servers = [server]
        self._server_handle = server
        self._server_address = name


class HFServerAdapter(BaseRollout):
    """Actor-side handle of the HF rollout: weight sync into the server actor of this rank."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1, **kwargs) -> None:
        super().__init__(config, model_config, device_mesh)
        check_rollout_config(self.config)
        self.replica_rank = int(os.environ.get("RANK", "0")) if replica_rank == -1 else replica_rank

    async def resume(self, tags: list[str]) -> None:
        pass

    async def release(self) -> None:
        pass

    @torch.no_grad()
    async def update_weights(self, weights, wire_format: str = "named_tensors", global_steps=None, **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"HF rollout weight sync takes named tensors, not {wire_format!r}.")
        state_dict = {}
        for name, tensor in weights:
            if hasattr(tensor, "full_tensor"):
                tensor = tensor.full_tensor()
            state_dict[name] = tensor.detach().to("cpu", dtype=torch.float32).clone()
        server = ray.get_actor(server_actor_name(self.replica_rank))
        await server.load_weights.remote(state_dict, global_steps)


def register() -> None:
    """Make `actor_rollout_ref.rollout.name=hf` resolve to this module (idempotent)."""
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = ADAPTER_FQN
    RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: HFReplica)
