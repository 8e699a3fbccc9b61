"""`anomseer-eval --model CHECKPOINT_DIR` on the CPU backend's own FSDP checkpoint (`make demo`'s), with its Hugging
Face weights removed: the shards are merged by verl's model merger and evaluated, and the merged weights are the
ones verl itself saved as hf_model."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from verl_anomseer.eval.checkpoint import MERGED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


def test_the_cpu_backends_fsdp_checkpoint_evaluates_without_hf_weights(demo_timerpo, tmp_path):
    assert demo_timerpo.returncode == 0, demo_timerpo.stdout[-3000:]
    steps = sorted(demo_timerpo.out.glob("checkpoints/global_step_*"), key=lambda p: int(p.name.split("_")[-1]))
    assert steps, sorted(p.name for p in demo_timerpo.out.iterdir())
    saved = steps[-1] / "actor"
    step = tmp_path / steps[-1].name
    shutil.copytree(saved, step / "actor", ignore=shutil.ignore_patterns("model.safetensors", "optim_*"))
    assert not any((step / "actor" / "huggingface").glob("*.safetensors"))
    out = tmp_path / "eval"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "verl_anomseer.eval",
            "--data",
            str(demo_timerpo.out / "data" / "test.parquet"),
            "--backend",
            "hf",
            "--model",
            str(step),
            "--limit",
            "2",
            "--max-new-tokens",
            "8",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2
    merged = load_file(step / "actor" / MERGED / "model.safetensors")
    reference = load_file(saved / "huggingface" / "model.safetensors")
    assert merged.keys() == reference.keys()
    for name, tensor in reference.items():  # the merger writes bfloat16
        assert torch.equal(merged[name], tensor.to(merged[name].dtype)), name
