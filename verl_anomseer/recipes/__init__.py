"""Hydra recipes for `python -m verl.trainer.main_ppo --config-path=pkg://verl_anomseer.recipes --config-name=NAME`.

Each recipe composes verl's own `ppo_trainer` (`hydra.searchpath: [pkg://verl.trainer.config]`) and then
`_anomseer_base.yaml`, the shared body (the authors' 3B hyperparameters; files starting with `_` are not
recipes); the ablations change one key. See docs/timerpo.md for the table.
"""

from __future__ import annotations

from importlib.resources import files


def recipe_names() -> list[str]:
    """Names of the shipped recipes (this package's YAML files not starting with `_`, without the extension)."""
    names = (p.name for p in files(__name__).iterdir())
    return sorted(n[: -len(".yaml")] for n in names if n.endswith(".yaml") and not n.startswith("_"))
