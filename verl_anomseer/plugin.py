"""verl entry point (`verl.plugins: anomseer`): registration only, lazily, so `import verl` stays fast.

Post-import hooks (wrapt) register, when verl itself imports the module:
  verl.trainer.ppo.core_algos  -> the `timerpo` advantage estimator
  verl.trainer.ppo.v1          -> the v1 trainers with the TimerPO grounding hook (timerpo.trainer)
  verl.utils.config            -> `validate_config` runs DRIVER_CHECKS first: `main_ppo` calls it in the driver
                                  before `ray.init`, so a config we cannot serve fails in seconds, not inside Ray
A hook fires when its module finishes executing, before `main_ppo`'s `from verl.utils.config import
validate_config` binds the name, so every entry point (and the legacy TaskRunner) binds the checked function.
verl swallows entry-point errors, so hook failures are logged and `check()` raises them; imported through
`VERL_USE_EXTERNAL_MODULES=verl_anomseer.plugin` instead, hook failures propagate. At import it also calls
`verl_anomseer.cpu.activate_if_requested()` (a no-op unless the opt-in CPU backend is requested).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt

from verl_anomseer import cluster, cpu, launch_checks, verl_seam

logger = logging.getLogger(__name__)
STRICT = "verl_anomseer.plugin" in os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",")
_failures: dict[str, BaseException] = {}


def _register_estimator(core_algos: ModuleType) -> None:
    from verl_anomseer.timerpo.advantage import compute_timerpo_advantage

    core_algos.register_adv_est("timerpo")(compute_timerpo_advantage)


def _install_trainers(v1: ModuleType) -> None:
    from verl_anomseer.timerpo.trainer import install_trainers

    install_trainers(v1)


def _check_timerpo(config: Any) -> None:
    from verl_anomseer.timerpo.trainer import check_config

    check_config(config)


# the verl internals the driver and its workers rely on (the `cpu` and `eval` concerns are checked where used)
DRIVER_CONCERNS = ("version", "plugin", "estimator", "trainer", "worker", "reward", "dataset", "driver")


def _check_verl_seam(config: Any) -> None:
    verl_seam.require(DRIVER_CONCERNS)


# one driver-side check per concern; each raises its own error type naming the fix (Hydra prints it, exit 1),
# except the GPU-less refusal (one line, exit 2; a machine without accelerators is the first thing to fix)
DRIVER_CHECKS: tuple[Callable[[Any], None], ...] = (
    _check_verl_seam,
    cpu.refuse_without_accelerator,
    _check_timerpo,
    cpu.check_config,
    launch_checks.check_config,
    cluster.prepare_driver_config,
)


def _install_driver_checks(config_module: ModuleType) -> None:
    """Put DRIVER_CHECKS in front of verl's `validate_config` (idempotent)."""
    validate_config = config_module.validate_config
    if _has_driver_checks(validate_config):
        return

    @functools.wraps(validate_config)
    def checked_validate_config(*args: Any, **kwargs: Any) -> Any:
        config = kwargs["config"] if "config" in kwargs else args[0]
        for check in DRIVER_CHECKS:
            check(config)
        return validate_config(*args, **kwargs)

    checked_validate_config.anomseer_driver_checks = True
    config_module.validate_config = checked_validate_config


def _has_driver_checks(validate_config: Any) -> bool:
    return getattr(validate_config, "anomseer_driver_checks", False) is True


HOOKS: dict[str, Callable[[ModuleType], None]] = {
    "verl.trainer.ppo.core_algos": _register_estimator,
    "verl.trainer.ppo.v1": _install_trainers,
    "verl.utils.config": _install_driver_checks,
}


def _guarded(name: str, hook: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    def run(module: ModuleType) -> None:
        try:
            hook(module)
            _failures.pop(name, None)
        except Exception as exc:
            _failures[name] = exc
            if STRICT:
                raise
            logger.warning("verl_anomseer: registration on import of %s failed: %r", name, exc)

    return run


def check() -> None:
    """Import the hooked verl modules and raise RuntimeError unless every registration is in place."""
    from verl.trainer.ppo import core_algos, v1
    from verl.utils import config as verl_config

    from verl_anomseer.timerpo.advantage import compute_timerpo_advantage
    from verl_anomseer.timerpo.trainer import GroundingAdvantageMixin

    problems = [f"{name}: {exc!r}" for name, exc in _failures.items()]
    if core_algos.ADV_ESTIMATOR_REGISTRY.get("timerpo") is not compute_timerpo_advantage:
        problems.append("advantage estimator 'timerpo' is not registered")
    if not issubclass(v1.get_trainer_cls("sync"), GroundingAdvantageMixin):
        problems.append("v1 trainer 'sync' lacks the TimerPO grounding hook")
    if not _has_driver_checks(verl_config.validate_config):
        problems.append("verl.utils.config.validate_config lacks the driver-side config checks")
    if problems:
        raise RuntimeError(
            "verl_anomseer plugin registration failed (" + "; ".join(problems) + "). Reinstall the package "
            "(pip install -e .) and check that VERL_USE_EXTERNAL_PLUGINS allows 'anomseer', or set "
            "VERL_USE_EXTERNAL_MODULES=verl_anomseer.plugin to see the error where it happens."
        )


cpu.activate_if_requested()
for _name, _hook in HOOKS.items():
    wrapt.register_post_import_hook(_guarded(_name, _hook), _name)
