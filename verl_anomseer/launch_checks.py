"""Driver-side checks of a training config against its cluster, before Ray starts (`verl_anomseer.plugin` runs
`check_config` in front of verl's `validate_config`). Each refusal is a `LaunchConfigError` naming the keys to
change; a config that cannot run fails in seconds, never after the model has loaded.

With W = trainer.nnodes x trainer.n_gpus_per_node, rollout n, train batch T and PPO mini-batch B (prompts), and
D = W / ulysses_sequence_parallel_size data-parallel ranks:
  - rollout replicas  W // (rollout tensor x data x pipeline parallel) >= 1: verl builds that many vLLM servers,
    and with none the run hangs or fails at its first generate;
  - batches, as verl asserts them later: T n divisible by W (validate_config, static batches), B n by D (the
    actor update), each rank's B n / D by ppo_micro_batch_size_per_gpu and its share of the step's responses
    by the log-prob micro-batches (static micro-batches);
  - data.image_key set and a column of every train/val parquet file present on this machine;
  - flash-attn importable where the config needs it (remove-padding, flash_attention_2, sequence parallel);
  - when this process sees a GPU, the memory estimate of `verl_anomseer.launch_memory` (a warning past it).

Importing this module registers the OmegaConf resolver `${anomseer.flash_attn:}` (true when flash-attn
imports), with which the GPU recipes turn remove-padding on only where it can run.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from verl_anomseer.launch_memory import uses_reference_policy

logger = logging.getLogger(__name__)
FLASH_ATTN_RESOLVER = "anomseer.flash_attn"
FLASH_ATTN_FIX = (
    "install it where a CUDA compiler exists (pip install flash-attn --no-build-isolation), or run on PyTorch's "
    "SDPA attention: actor_rollout_ref.model.use_remove_padding=false "
    "++actor_rollout_ref.model.override_config.attn_implementation=sdpa"
)
_ROLLOUT = "actor_rollout_ref.rollout"
_ACTOR = "actor_rollout_ref.actor"


class LaunchConfigError(ValueError):
    """A training config that cannot run on the cluster it names; the message names the keys to change."""


@functools.cache
def flash_attn_importable() -> bool:
    """Does `flash_attn` import here, with the varlen kernel verl's remove-padding path calls?"""
    try:
        return hasattr(importlib.import_module("flash_attn"), "flash_attn_varlen_func")
    except (ImportError, OSError, RuntimeError):  # missing, or a wheel built for another torch/CUDA
        return False


def _get(config: Any, key: str, default: Any = None) -> Any:
    value = OmegaConf.select(config, key, default=default)
    return default if value is None else value


def world_size(config: Any) -> int:
    """Training GPUs: trainer.nnodes x trainer.n_gpus_per_node."""
    return int(_get(config, "trainer.nnodes", 1)) * int(_get(config, "trainer.n_gpus_per_node", 1))


def rollout_replicas(config: Any) -> int:
    """Rollout servers verl builds: W // (tensor x data x pipeline parallel size of one replica)."""
    per_replica = math.prod(
        int(_get(config, f"{_ROLLOUT}.{k}_parallel_size", 1)) for k in ("tensor_model", "data", "pipeline_model")
    )
    return world_size(config) // per_replica


def check_rollout_replicas(config: Any) -> None:
    if rollout_replicas(config) >= 1:
        return
    tp = _get(config, f"{_ROLLOUT}.tensor_model_parallel_size", 1)
    dp = _get(config, f"{_ROLLOUT}.data_parallel_size", 1)
    pp = _get(config, f"{_ROLLOUT}.pipeline_model_parallel_size", 1)
    raise LaunchConfigError(
        f"{_ROLLOUT}.tensor_model_parallel_size={tp} (x data_parallel_size={dp} x pipeline_model_parallel_size={pp})"
        f" needs more GPUs than the {world_size(config)} of trainer.nnodes x trainer.n_gpus_per_node: that leaves "
        f"0 rollout replicas. Set {_ROLLOUT}.tensor_model_parallel_size={max(1, world_size(config) // (dp * pp))} "
        "or lower, or "
        "use a recipe sized for this node (timerpo_qwen2_5_vl_3b_1gpu on one GPU)"
    )


def sequence_parallel_size(config: Any) -> int:
    """The actor's ulysses sequence-parallel size (the actor key, or its fsdp_config's, as verl reads them)."""
    return max(
        int(_get(config, f"{_ACTOR}.ulysses_sequence_parallel_size", 1)),
        int(_get(config, f"{_ACTOR}.fsdp_config.ulysses_sequence_parallel_size", 1)),
    )


def data_parallel_size(config: Any) -> int:
    """Actor data-parallel ranks: W / sequence-parallel size (as verl's FSDP engine)."""
    return max(1, world_size(config) // sequence_parallel_size(config))


def responses_per_rank(config: Any) -> int:
    """Each rank's share of a step: verl pads the step's T n responses up to a multiple of lcm(D, B n)."""
    dp, n = data_parallel_size(config), int(_get(config, f"{_ROLLOUT}.n", 1))
    train = int(config.data.train_batch_size)
    multiple = math.lcm(dp, int(_get(config, f"{_ACTOR}.ppo_mini_batch_size", train)) * n)
    return math.ceil(train * n / multiple) * multiple // dp


def check_batch_sizes(config: Any) -> None:
    """The divisibility verl asserts during the first step, checked now (module docstring)."""
    world, dp = world_size(config), data_parallel_size(config)
    n = int(_get(config, f"{_ROLLOUT}.n", 1))
    train = int(config.data.train_batch_size)
    mini = int(_get(config, f"{_ACTOR}.ppo_mini_batch_size", train))
    static = not _get(config, f"{_ACTOR}.use_dynamic_bsz", False)
    keys = f"data.train_batch_size={train} x {_ROLLOUT}.n={n}"
    if static and (train * n) % world:
        raise LaunchConfigError(
            f"{keys} = {train * n} responses per step do not split over the {world} GPUs of "
            "trainer.nnodes x trainer.n_gpus_per_node: make the product a multiple of it"
        )
    if (mini * n) % dp:
        raise LaunchConfigError(
            f"{_ACTOR}.ppo_mini_batch_size={mini} x {_ROLLOUT}.n={n} = {mini * n} responses do "
            f"not split over {dp} data-parallel ranks: make the product a multiple of {dp}"
        )
    if not static:
        return
    micro = int(_get(config, f"{_ACTOR}.ppo_micro_batch_size_per_gpu", 1))
    if (mini * n // dp) % micro:
        raise LaunchConfigError(
            f"{_ACTOR}.ppo_micro_batch_size_per_gpu={micro} does not divide the {mini * n // dp} "
            f"responses each of {dp} ranks updates per mini-batch ({_ACTOR}.ppo_mini_batch_size="
            f"{mini} x {_ROLLOUT}.n={n} / {dp}): choose a divisor of {mini * n // dp}"
        )
    per_rank = responses_per_rank(config)
    for section in (_ROLLOUT, "actor_rollout_ref.ref"):
        if section.endswith("ref") and not uses_reference_policy(config):
            continue
        if _get(config, f"{section}.log_prob_use_dynamic_bsz", False):
            continue
        micro = _get(config, f"{section}.log_prob_micro_batch_size_per_gpu")
        if micro and per_rank % int(micro):
            raise LaunchConfigError(
                f"{section}.log_prob_micro_batch_size_per_gpu={micro} does not divide the "
                f"{per_rank} responses per rank of a step ({keys} over {dp} ranks): choose a "
                f"divisor of {per_rank}"
            )


def _data_files(config: Any) -> list[str]:
    files = []
    for key in ("data.train_files", "data.val_files"):
        value = _get(config, key)
        files += [value] if isinstance(value, str) else list(value or [])
    return files


def check_image_key(config: Any) -> None:
    """data.image_key is set and a column of each train/val parquet file that exists here (others: verl's job)."""
    import pyarrow.parquet as pq
    from hydra.utils import to_absolute_path

    key = _get(config, "data.image_key")
    if not key:
        raise LaunchConfigError("data.image_key is empty: AnomSeer prompts carry their plot; set data.image_key=images")
    for name in _data_files(config):
        path = Path(to_absolute_path(str(name)))
        if path.suffix != ".parquet" or not path.is_file():
            continue
        columns = pq.read_schema(path).names
        if key not in columns:
            raise LaunchConfigError(
                f"data.image_key={key!r} is not a column of {path} (columns: {columns}): set "
                "data.image_key to the image column, or rebuild the data with anomseer-build-data"
            )


def needs_flash_attn(config: Any) -> list[str]:
    """The settings of `config` that call flash-attn kernels (empty when none does)."""
    model = "actor_rollout_ref.model"
    needs = []
    if _get(config, f"{model}.use_remove_padding", False):
        needs.append(f"{model}.use_remove_padding=true")
    attention = _get(config, f"{model}.override_config.attn_implementation", "flash_attention_2")
    if attention == "flash_attention_2":
        needs.append(f"{model}.override_config.attn_implementation=flash_attention_2 (verl's default)")
    if sequence_parallel_size(config) > 1:
        needs.append(f"{_ACTOR}.ulysses_sequence_parallel_size>1")
    return needs


def check_flash_attn(config: Any) -> None:
    needs = needs_flash_attn(config)
    if needs and not flash_attn_importable():
        raise LaunchConfigError(f"{', '.join(needs)} need(s) flash-attn, which does not import here: {FLASH_ATTN_FIX}")


def warn_if_over_memory(config: Any, device_bytes: float | None = None) -> str | None:
    """Log (and return) a warning when the estimate passes the device memory. `device_bytes` defaults to the
    first visible CUDA device's; without one, or for a model of unknown size, nothing is estimated."""
    from verl_anomseer.launch_memory import GIB, estimate, parameter_count

    if device_bytes is None:
        import torch

        if not torch.cuda.is_available():
            return None
        device_bytes = torch.cuda.get_device_properties(0).total_memory
    parameters = parameter_count(str(_get(config, "actor_rollout_ref.model.path", "")))
    if parameters is None:
        return None
    guess = estimate(config, parameters, device_bytes)
    if guess.total <= device_bytes:
        return None
    message = (
        f"verl_anomseer: estimated {guess.describe()} per GPU passes the device's {device_bytes / GIB:.1f} GiB "
        f"(an estimate, activations not included). Lower {_ROLLOUT}.gpu_memory_utilization, set "
        f"{_ACTOR}.fsdp_config.optimizer_offload=true or actor_rollout_ref.ref.fsdp_config.param_offload=true, "
        "or raise trainer.n_gpus_per_node"
    )
    logger.warning(message)
    return message


def check_config(config: Any) -> None:
    """Every check above, cheapest first: config arithmetic, then this machine's files, imports and devices."""
    check_rollout_replicas(config)
    check_batch_sizes(config)
    check_image_key(config)
    check_flash_attn(config)
    warn_if_over_memory(config)


if not OmegaConf.has_resolver(FLASH_ATTN_RESOLVER):
    OmegaConf.register_new_resolver(FLASH_ATTN_RESOLVER, flash_attn_importable)
