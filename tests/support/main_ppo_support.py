"""Run `python -m verl.trainer.main_ppo` on the cpu_smoke recipe for checks that must fail before Ray starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from env_support import clean_env

RAY_STARTING = "ray init kwargs"  # main_ppo.run_ppo prints this line just before ray.init
CPU_SMOKE = [
    sys.executable,
    "-m",
    "verl.trainer.main_ppo",
    "--config-path=pkg://verl_anomseer.recipes",
    "--config-name=cpu_smoke",
]


def cpu_smoke_command(data: Path, model: Path, *overrides: str) -> list[str]:
    """main_ppo on `cpu_smoke` with a built data folder (train/test parquet) and model, then `overrides`."""
    return [
        *CPU_SMOKE,
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'test.parquet'}",
        f"actor_rollout_ref.model.path={model}",
        *overrides,
    ]


def run_cpu_smoke(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """main_ppo on `cpu_smoke` with the CPU backend on, a never-loaded model path and a private RAY_TMPDIR."""
    env = clean_env(VERL_ANOMSEER_CPU="1", RAY_TMPDIR=str(tmp_path / "ray"))
    return subprocess.run(
        [*CPU_SMOKE, "actor_rollout_ref.model.path=never-loaded", *overrides],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def assert_refused_before_ray(result: subprocess.CompletedProcess, tmp_path: Path) -> None:
    """The run failed, Ray never started a session, and no Ray task error wraps the message."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert RAY_STARTING not in output and "RayTaskError" not in output, output[-3000:]
    assert not (tmp_path / "ray").exists(), "Ray started a session before the config was refused"
