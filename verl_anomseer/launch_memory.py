"""Per-GPU memory estimate of a verl FSDP + vLLM training config: an estimate, not a measurement.

With P model parameters on W = trainer.nnodes x trainer.n_gpus_per_node GPUs of M bytes each:

    actor      8 P / W    fp32 parameters and gradients, FSDP-sharded    (0 with actor fsdp_config.param_offload)
    optimizer  8 P / W    AdamW's two fp32 moments, sharded              (0 with actor fsdp_config.optimizer_offload)
    reference  2 P / W    bf16 parameters of the KL reference policy     (0 with ref fsdp_config.param_offload,
                                                                          or without a reference policy)
    rollout    u x M      vLLM's share: gpu_memory_utilization u of the device (weights and KV cache)

The sum leaves out activations, logits and the allocator's slack; a config whose sum passes M cannot start
its rollout engine next to the resident actor. P comes from a local checkpoint's safetensors headers, or
from `KNOWN_PARAMETERS` for the recipes' hub names (nothing is downloaded).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

GIB = 1024**3
# parameter counts (language model + vision tower) from the model cards of the recipes' models
KNOWN_PARAMETERS = {
    "Qwen/Qwen2.5-VL-3B-Instruct": 3_750_000_000,
    "Qwen/Qwen2.5-VL-7B-Instruct": 8_290_000_000,
}
_SAFETENSORS_HEADER_MAX = 100 * 1024 * 1024


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU, by resident part."""

    actor: float
    optimizer: float
    reference: float
    rollout: float

    @property
    def total(self) -> float:
        return self.actor + self.optimizer + self.reference + self.rollout

    def describe(self) -> str:
        parts = ", ".join(
            f"{name} {getattr(self, name) / GIB:.1f}" for name in ("actor", "optimizer", "reference", "rollout")
        )
        return f"{self.total / GIB:.1f} GiB ({parts})"


def _flag(config: Any, key: str) -> bool:
    return bool(OmegaConf.select(config, key, default=False))


def uses_reference_policy(config: Any) -> bool:
    """verl runs a reference policy for a KL loss or a KL reward penalty."""
    return _flag(config, "actor_rollout_ref.actor.use_kl_loss") or _flag(config, "algorithm.use_kl_in_reward")


def estimate(config: Any, parameters: int, device_bytes: float) -> MemoryEstimate:
    """The per-GPU estimate (module docstring) of `config` for a model of `parameters` on `device_bytes` GPUs."""
    world = int(config.trainer.nnodes) * int(config.trainer.n_gpus_per_node)
    shard = parameters / world
    actor = 0.0 if _flag(config, "actor_rollout_ref.actor.fsdp_config.param_offload") else 8 * shard
    optimizer = 0.0 if _flag(config, "actor_rollout_ref.actor.fsdp_config.optimizer_offload") else 8 * shard
    reference = 0.0
    if uses_reference_policy(config) and not _flag(config, "actor_rollout_ref.ref.fsdp_config.param_offload"):
        reference = 2 * shard
    utilization = float(OmegaConf.select(config, "actor_rollout_ref.rollout.gpu_memory_utilization", default=0.5))
    return MemoryEstimate(actor, optimizer, reference, utilization * device_bytes)


def parameter_count(model_path: str) -> int | None:
    """P of a local Hugging Face checkpoint (its safetensors headers) or of a known hub name; None if unknown."""
    if model_path in KNOWN_PARAMETERS:
        return KNOWN_PARAMETERS[model_path]
    files = sorted(Path(model_path).glob("*.safetensors")) if Path(model_path).is_dir() else []
    counts = [_safetensors_parameters(path) for path in files]
    return sum(counts) if counts and None not in counts else None


def _safetensors_parameters(path: Path) -> int | None:
    """Elements of every tensor in a safetensors file, from its JSON header (8-byte little-endian length first)."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _SAFETENSORS_HEADER_MAX:
                return None
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError):
        return None
    total = 0
    for name, entry in header.items():
        if name != "__metadata__":
            count = 1
            for dim in entry["shape"]:
                count *= int(dim)
            total += count
    return total
