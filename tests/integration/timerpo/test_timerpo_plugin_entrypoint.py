"""Registration through the installed `verl.plugins` entry point, each case in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "VERL_USE_EXTERNAL_MODULES": "", "VERL_USE_EXTERNAL_PLUGINS": "auto", **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_entry_point_registers_lazily_and_completely():
    proc = _run(
        """
        import sys
        import verl
        assert "verl_anomseer.plugin" in sys.modules, "entry point not loaded"
        lazy = [m for m in ("verl.trainer.ppo.core_algos", "verl.trainer.ppo.v1") if m in sys.modules]
        assert not lazy, f"import verl pulled in {lazy}"
        from verl.trainer.ppo.core_algos import get_adv_estimator_fn
        from verl.trainer.ppo.v1 import get_trainer_cls
        from verl_anomseer.timerpo.advantage import compute_timerpo_advantage
        from verl_anomseer.timerpo.trainer import GroundingAdvantageMixin
        assert get_adv_estimator_fn("timerpo") is compute_timerpo_advantage
        for mode in ("sync", "colocate_async", "separate_async"):
            assert issubclass(get_trainer_cls(mode), GroundingAdvantageMixin), mode
        import verl_anomseer.plugin
        verl_anomseer.plugin.check()
        print("OK")
        """
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


def test_external_modules_fallback_without_entry_points():
    proc = _run(
        """
        import sys
        import verl
        assert "verl_anomseer.plugin" in sys.modules
        import verl_anomseer.plugin
        assert verl_anomseer.plugin.STRICT
        verl_anomseer.plugin.check()
        print("OK")
        """,
        VERL_USE_EXTERNAL_PLUGINS="none",
        VERL_USE_EXTERNAL_MODULES="verl_anomseer.plugin",
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


def test_check_raises_when_registration_failed():
    proc = _run(
        """
        import verl
        from verl.trainer.ppo import core_algos
        core_algos.register_adv_est("timerpo")(lambda **kw: None)  # someone else took the name
        import verl_anomseer.plugin
        try:
            verl_anomseer.plugin.check()
        except RuntimeError as exc:
            print("RAISED", exc)
        """,
        VERL_USE_EXTERNAL_PLUGINS="none",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RAISED" in proc.stdout and "already been registered" in proc.stdout
    assert "VERL_USE_EXTERNAL_MODULES=verl_anomseer.plugin" in proc.stdout
