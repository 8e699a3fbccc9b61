"""`make gpu-smoke` refuses a node it cannot run on with one line before any work, and judges verl's metrics."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from recipe_cli_support import printed_job_configs
from recipe_support import validate_like_main_ppo

from verl_anomseer.gpu_smoke import RECIPE, SOURCES, STEPS, TINY, SmokeFailure, check_metrics, missing_requirement

REPO = Path(__file__).resolve().parents[3]
CAN_RUN = importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def test_the_missing_piece_is_named():
    assert "pip install -e '.[gpu]'" in missing_requirement(has_vllm=False, has_cuda=True)
    assert "no CUDA GPU is visible" in missing_requirement(has_vllm=True, has_cuda=False)
    assert missing_requirement(has_vllm=True, has_cuda=True) is None


@pytest.mark.skipif(CAN_RUN, reason="this node has a GPU and vLLM: the smoke test would run")
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "verl_anomseer.gpu_smoke", "--out", "{out}"],
        ["make", "--no-print-directory", "-C", str(REPO), "gpu-smoke", f"PY={sys.executable}", "GPU_SMOKE_OUT={out}"],
    ],
)
def test_without_a_gpu_or_vllm_it_stops_at_once_with_one_line(tmp_path, command):
    out = tmp_path / "smoke"
    proc = subprocess.run(
        [part.replace("{out}", str(out)) for part in command], check=False, capture_output=True, text=True, timeout=120
    )
    ours = [line for line in proc.stderr.splitlines() if line.startswith("gpu-smoke: ")]
    assert proc.returncode != 0 and len(ours) == 1, proc.stderr
    assert ("pip install -e '.[gpu]'" in ours[0]) or ("no CUDA GPU is visible" in ours[0])
    assert proc.stdout.strip() in ("", f"{sys.executable} -m verl_anomseer.gpu_smoke --out {out}")
    assert not out.exists()


def _records(*steps: dict) -> list[dict]:
    return [{"step": i + 1, "data": data} for i, data in enumerate(steps)]


def test_finite_timerpo_metrics_pass_and_report_step_times():
    good = {"timerpo/grounding_mean": 0.5, "timerpo/proj_coef_mean": -0.1, "timing_s/step": 12.34}
    lines = check_metrics(_records(good, good))
    assert lines == ["  step 1: 12.3 s, grounding_mean=0.500", "  step 2: 12.3 s, grounding_mean=0.500"]


@pytest.mark.parametrize(
    "records",
    [
        _records({"timerpo/grounding_mean": 0.5}),  # one step of two
        _records({"timerpo/grounding_mean": 0.5}, {"timerpo/grounding_mean": float("nan")}),
        _records({"timerpo/grounding_mean": 0.5}, {"critic/score/mean": 0.1}),
    ],
)
def test_missing_or_non_finite_metrics_fail(records):
    with pytest.raises(SmokeFailure):
        check_metrics(records)


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_smoke_runs_config_passes_the_checks_before_ray(tmp_path, source):
    """The command line it hands main_ppo (tiny sizes on the 1-GPU recipe) composes and is not refused."""
    overrides = (
        *TINY,
        *SOURCES[source],
        "data.train_files=x.parquet",
        "actor_rollout_ref.model.path=tiny",
        f"trainer.total_training_steps={STEPS}",
    )
    name = RECIPE[1].removeprefix("--config-name=")
    config = OmegaConf.create(printed_job_configs([name], tmp_path, overrides)[name])
    validate_like_main_ppo(config)
    assert config.algorithm.timerpo.grounding.source == source
