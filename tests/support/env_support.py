"""Environments for the subprocesses the tests start."""

from __future__ import annotations

import os

PROJECT_PREFIXES = ("VERL_", "HYDRA_")  # the plugin's and verl's switches (the CPU backend's too), Hydra's


def clean_env(*also: str, **extra: str) -> dict[str, str]:
    """This process's environment without the variables named by :data:`PROJECT_PREFIXES` or the prefixes in
    `also`, plus `extra`: a subprocess starts as a user's fresh shell would, whatever an earlier test set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith((*PROJECT_PREFIXES, *also))}
    env.update(extra)
    return env
