"""Opt-in CPU backend for verl 0.9.1: a `cpu` platform (gloo) and an `hf` rollout that handles images.

Enable it with the environment variable `VERL_ANOMSEER_CPU=1` on the command that starts verl (local Ray
workers inherit it), and select the rollout with `actor_rollout_ref.rollout.name=hf`:

    VERL_ANOMSEER_CPU=1 python -m verl.trainer.main_ppo \
        --config-path=pkg://verl_anomseer.recipes --config-name=cpu_smoke ...

`verl_anomseer.plugin` calls `activate_if_requested()` in every process that imports verl. Without the
variable nothing is imported and nothing changes, except that a `main_ppo` training run started on a
machine without accelerators stops at once with a message saying how to enable the backend. While active,
`check_config` refuses, in the driver before Ray starts, a trainer config the backend cannot serve.
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
_TRAINING_ENTRY = "verl.trainer.main_ppo"
_CONFIG_ONLY_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--resolve", "-p", "--package")
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
        from .config import check_training_config

        check_training_config(config)


def activate_if_requested() -> bool:
    """Activate the backend when requested; otherwise refuse a GPU-less `main_ppo` training run with
    `ENABLE_HINT` (SystemExit(2)). Cheap when neither applies: torch is imported only for the check."""
    if requested():
        activate()
        return True
    if _starts_training(sys.orig_argv) and not _has_accelerator():
        print(ENABLE_HINT, file=sys.stderr)
        raise SystemExit(2)
    return False


def _starts_training(argv: list[str]) -> bool:
    """Is this process `python -m verl.trainer.main_ppo` (or its file) about to train, not just print config?"""
    try:
        at = argv.index("-m")
        entry, overrides = argv[at + 1], argv[at + 2 :]
    except (ValueError, IndexError):
        scripts = [i for i, arg in enumerate(argv) if arg.replace(os.sep, "/").endswith("verl/trainer/main_ppo.py")]
        if not scripts:
            return False
        entry, overrides = _TRAINING_ENTRY, argv[scripts[0] + 1 :]
    if entry != _TRAINING_ENTRY:
        return False
    return not any(arg.split("=", 1)[0] in _CONFIG_ONLY_FLAGS for arg in overrides)


def _has_accelerator() -> bool:
    import torch

    npu = getattr(torch, "npu", None)
    return torch.cuda.is_available() or bool(npu is not None and npu.is_available())
