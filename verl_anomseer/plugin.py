"""verl entry point (`verl.plugins: anomseer`): registration only, lazily, so `import verl` stays fast.

Post-import hooks (wrapt) register, when verl itself imports the module:
  verl.trainer.ppo.core_algos  -> the `timerpo` advantage estimator
  verl.trainer.ppo.v1          -> the v1 trainers with the TimerPO grounding hook (timerpo.trainer)
  verl.trainer.main_ppo_v0     -> the legacy trainer's refusal of grounded timerpo runs
verl swallows entry-point errors, so hook failures are logged and `check()` raises them; imported through
`VERL_USE_EXTERNAL_MODULES=verl_anomseer.plugin` instead, hook failures propagate. At import it also calls
`verl_anomseer.cpu.activate_if_requested()` (a no-op unless the opt-in CPU backend is requested).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from types import ModuleType

import wrapt

from verl_anomseer.cpu import activate_if_requested

logger = logging.getLogger(__name__)
STRICT = "verl_anomseer.plugin" in os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",")
_failures: dict[str, BaseException] = {}


def _register_estimator(core_algos: ModuleType) -> None:
    from verl_anomseer.timerpo.advantage import compute_timerpo_advantage

    core_algos.register_adv_est("timerpo")(compute_timerpo_advantage)


def _install_trainers(v1: ModuleType) -> None:
    from verl_anomseer.timerpo.trainer import install_trainers

    install_trainers(v1)


def _guard_legacy(main_ppo_v0: ModuleType) -> None:
    from verl_anomseer.timerpo.trainer import guard_legacy_trainer

    guard_legacy_trainer(main_ppo_v0)


HOOKS: dict[str, Callable[[ModuleType], None]] = {
    "verl.trainer.ppo.core_algos": _register_estimator,
    "verl.trainer.ppo.v1": _install_trainers,
    "verl.trainer.main_ppo_v0": _guard_legacy,
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

    from verl_anomseer.timerpo.advantage import compute_timerpo_advantage
    from verl_anomseer.timerpo.trainer import GroundingAdvantageMixin

    problems = [f"{name}: {exc!r}" for name, exc in _failures.items()]
    if core_algos.ADV_ESTIMATOR_REGISTRY.get("timerpo") is not compute_timerpo_advantage:
        problems.append("advantage estimator 'timerpo' is not registered")
    if not issubclass(v1.get_trainer_cls("sync"), GroundingAdvantageMixin):
        problems.append("v1 trainer 'sync' lacks the TimerPO grounding hook")
    if problems:
        raise RuntimeError(
            "verl_anomseer plugin registration failed (" + "; ".join(problems) + "). Reinstall the package "
            "(pip install -e .) and check that VERL_USE_EXTERNAL_PLUGINS allows 'anomseer', or set "
            "VERL_USE_EXTERNAL_MODULES=verl_anomseer.plugin to see the error where it happens."
        )


activate_if_requested()
for _name, _hook in HOOKS.items():
    wrapt.register_post_import_hook(_guarded(_name, _hook), _name)
