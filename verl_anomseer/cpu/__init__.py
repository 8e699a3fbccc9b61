"""Opt-in CPU backend for verl 0.9.1: a `cpu` platform (gloo) and an `hf` rollout that handles images.

Enable it with the environment variable `VERL_ANOMSEER_CPU=1` on the command that starts verl (local Ray
workers inherit it), and select the rollout with `actor_rollout_ref.rollout.name=hf`:

    VERL_ANOMSEER_CPU=1 python -m verl.trainer.main_ppo \
        --config-path=pkg://verl_anomseer.recipes --config-name=cpu_smoke ...

`verl_anomseer.plugin` calls `activate_if_requested()` in every process that imports verl. Without the
variable nothing is imported and nothing changes. The plugin's driver-side checks (run by `main_ppo` before
Ray starts) include two of this module: while the backend is active, `check_config` refuses a trainer config it
cannot serve; while it is not, `refuse_without_accelerator` stops a run on a machine without accelerators with
a message saying how to enable the backend.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV_FLAG = "VERL_ANOMSEER_CPU"
ENABLE_HINT = (
    f"verl found no GPU/NPU on this machine. To train on CPU, enable verl-anomseer's CPU backend: set "
    f"{ENV_FLAG}=1 and use actor_rollout_ref.rollout.name=hf (the recipe "
    "`--config-path=pkg://verl_anomseer.recipes --config-name=cpu_smoke` sets up the rest; see docs/cpu.md)."
)
_active = False


def requested() -> bool:
    """True when the environment asks for the CPU backend (`VERL_ANOMSEER_CPU` set to 1/true/yes/on)."""
    return os.environ.get(ENV_FLAG, "").strip().lower() in ("1", "true", "yes", "on")


def activate() -> None:
    """Register the `cpu` platform and the `hf` rollout in this process (idempotent)."""
    global _active
    if _active:
        return
    from . import platform, rollout

    platform.install()
    rollout.register()
    os.environ[ENV_FLAG] = "1"  # processes started from here (Ray workers) activate too
    _active = True


def check_config(config: Any) -> None:
    """Driver-side check, before Ray starts (`verl_anomseer.plugin` runs it in front of verl's `validate_config`):
    while the backend is active, refuse a trainer config it cannot serve (`config.check_training_config`)."""
    if _active:
        from verl_anomseer import verl_seam

        from .config import check_training_config

        verl_seam.require(["cpu"])
        check_training_config(config)


def activate_if_requested() -> bool:
    """Activate the backend when requested (`requested()`); True when it is active."""
    if requested():
        activate()
    return _active


def refuse_without_accelerator(config: Any) -> None:
    """Driver-side check (`plugin.DRIVER_CHECKS`, before the config checks): with the backend off, a training run
    on a machine without a GPU or NPU stops with `ENABLE_HINT` (one line on stderr, exit code 2), not in Ray."""
    if not _active and not _has_accelerator():
        print(ENABLE_HINT, file=sys.stderr)
        raise SystemExit(2)


def _has_accelerator() -> bool:
    import torch

    npu = getattr(torch, "npu", None)
    return torch.cuda.is_available() or bool(npu is not None and npu.is_available())
