"""Recipes in tests: composed through Hydra's compose API, checked as `main_ppo.main` checks them before Ray,
and flattened to dotted keys for comparisons."""

from __future__ import annotations

from typing import Any


def compose_config(module: str, name: str, *overrides: str):
    """The config `name` of the Hydra config package `module` with `overrides`, as Hydra's compose API gives it."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=module, version_base=None):
        config = compose(config_name=name, overrides=list(overrides))
    GlobalHydra.instance().clear()
    return config


def compose_recipe(name: str, *overrides: str):
    """The recipe `name` of `verl_anomseer.recipes` with `overrides`."""
    return compose_config("verl_anomseer.recipes", name, *overrides)


def compose_ppo(*overrides: str):
    """verl's own `ppo_trainer` config with `overrides`."""
    return compose_config("verl.trainer.config", "ppo_trainer", *overrides)


def validate_like_main_ppo(config, accelerator: bool = True) -> None:
    """verl's `validate_config` as `main_ppo.main` calls it (the plugin's driver checks run in front), on a node
    that has a GPU unless `accelerator` is False (the recipes are GPU recipes; this machine may have none)."""
    from unittest import mock

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    with mock.patch("verl_anomseer.cpu._has_accelerator", return_value=accelerator):
        validate_config(
            config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
        )


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict (a printed or `OmegaConf.to_container` config) as {dotted key: leaf value}."""
    if not isinstance(node, dict):
        return {prefix: node}
    return {k: v for key, child in node.items() for k, v in leaves(child, f"{prefix}.{key}" if prefix else key).items()}
