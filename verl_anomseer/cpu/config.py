"""What the CPU backend can serve: one HF-generate rollout per replica, no tensor/pipeline parallelism,
no vLLM/SGLang-only engine options. `check_rollout_config` raises one clear error naming the offending key;
`check_training_config` applies it to a whole trainer config (the driver-side check, before Ray starts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROLLOUT_NAME = "hf"
_SINGLE_DEVICE_KEYS = (
    "tensor_model_parallel_size",
    "data_parallel_size",
    "pipeline_model_parallel_size",
    "expert_parallel_size",
)
_SUPPORTED_LOGPROBS_MODES = ("processed_logprobs",)


class CPUBackendConfigError(ValueError):
    """A configuration the CPU backend cannot serve."""


def _get(cfg: Any, dotted: str, default: Any = None) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else getattr(node, part, None)
        if node is None:
            return default
    return node


def _refuse(key: str, value: Any, why: str) -> None:
    raise CPUBackendConfigError(
        f"actor_rollout_ref.rollout.{key}={value!r}: {why} The CPU backend (rollout.name={ROLLOUT_NAME}) runs one "
        "Hugging Face generate() per replica; use a GPU rollout (rollout.name=vllm) for this setting."
    )


def check_rollout_config(rollout: Any) -> None:
    """Raise `CPUBackendConfigError` unless the rollout config (`RolloutConfig` or a DictConfig/dict of
    `actor_rollout_ref.rollout`) is one the CPU backend can serve."""
    name = _get(rollout, "name")
    if name != ROLLOUT_NAME:
        _refuse("name", name, f"the CPU backend only provides the '{ROLLOUT_NAME}' rollout.")
    if _get(rollout, "mode", "async") != "async":
        _refuse("mode", _get(rollout, "mode"), "only the async (server) rollout mode exists in verl 0.9.1.")
    for key in _SINGLE_DEVICE_KEYS:
        value = _get(rollout, key, 1)
        if int(value) != 1:
            _refuse(key, value, "parallel rollout engines need GPUs; it must be 1.")
    for engine in ("vllm", "sglang", "trtllm"):
        options = _get(rollout, f"engine_kwargs.{engine}", {})
        if options and len(options):
            _refuse(f"engine_kwargs.{engine}", dict(options), f"{engine}-only engine options do not apply.")
    for key in ("quantization", "quantization_config_file", "cudagraph_capture_sizes"):
        value = _get(rollout, key)
        if value:
            _refuse(key, value, "this is a vLLM/SGLang engine option.")
    for key in ("disaggregation.enabled", "enable_rollout_routing_replay", "prometheus.enable"):
        if bool(_get(rollout, key, False)):
            _refuse(key, True, "this needs a vLLM/SGLang server.")
    mode = _get(rollout, "logprobs_mode", "processed_logprobs")
    if mode not in _SUPPORTED_LOGPROBS_MODES:
        _refuse("logprobs_mode", mode, f"the HF rollout returns {_SUPPORTED_LOGPROBS_MODES[0]} only.")
    backend = _get(rollout, "checkpoint_engine.backend", "naive")
    if backend != "naive":
        _refuse("checkpoint_engine.backend", backend, "weights reach the HF rollout in-process ('naive') only.")


def check_training_config(config: Any) -> None:
    """Raise `CPUBackendConfigError` unless the trainer config's `actor_rollout_ref.rollout` passes
    `check_rollout_config`; the hf replica and the actor-side adapter check it again inside Ray."""
    check_rollout_config(_get(config, "actor_rollout_ref.rollout", {}))
