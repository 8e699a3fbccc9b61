"""`make gpu-smoke`: the first command on a new GPU node (one GPU, the `gpu` extra installed).

    python -m verl_anomseer.gpu_smoke --out runs/gpu_smoke

1. builds a tiny dataset and the tiny local Qwen2.5-VL (as `make demo`)                      -> OUT/data, OUT/model
2. for each TimerPO grounding source (`algorithm.timerpo.grounding.source=policy`, then `=reward`), 2 steps of
   `python -m verl.trainer.main_ppo` on the recipe timerpo_qwen2_5_vl_3b_1gpu with the vLLM rollout, sized for
   the tiny model                                                                              -> OUT/<source>/
3. evaluates the last checkpoint with the `vllm` and the `hf` backend                         -> OUT/<source>/eval_*
4. checks that every `timerpo/*` metric verl logged is finite and prints the step times.
Without a visible CUDA GPU or without vLLM it stops at once with one line (exit 2); a failed stage prints one
line naming its log (exit 1).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from verl_anomseer.demo import OFFLINE_ENV, build_data, read_metrics

PROG = "gpu-smoke"
RECIPE = ("--config-path=pkg://verl_anomseer.recipes", "--config-name=timerpo_qwen2_5_vl_3b_1gpu")
STEPS = 2
# `++`: the key is added when the recipe does not declare it (policy grounding is the lead's in-flight change)
SOURCES = {
    "policy": ("++algorithm.timerpo.grounding.source=policy",),
    "reward": (
        "++algorithm.timerpo.grounding.source=reward",
        "++reward.custom_reward_function.reward_kwargs.grounding.similarity=ot",
    ),
}
# the tiny model's sizes (as the cpu_smoke recipe): 2 prompts x 4 rollouts per step, short prompts and answers
TINY = (
    "data.train_batch_size=2",
    "data.max_prompt_length=320",
    "data.max_response_length=48",
    "data.filter_overlong_prompts=false",
    "data.dataloader_num_workers=0",
    "actor_rollout_ref.rollout.n=4",
    "actor_rollout_ref.actor.ppo_mini_batch_size=2",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
    "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
    "actor_rollout_ref.rollout.enforce_eager=true",
    "trainer.val_before_train=false",
    "trainer.test_freq=-1",
    "trainer.logger=[console,file]",
    "trainer.project_name=anomseer_gpu_smoke",
)


class SmokeFailure(RuntimeError):
    """A stage failed; the message names its log."""


def missing_requirement(has_vllm: bool, has_cuda: bool) -> str | None:
    """The one line that stops the smoke test before any work, or None when the node can run it."""
    if not has_vllm:
        return f"{PROG}: the gpu extra is not installed (vllm does not import here): pip install -e '.[gpu]'"
    if not has_cuda:
        return (
            f"{PROG}: no CUDA GPU is visible (torch.cuda.is_available() is False): run it on a GPU node "
            "(make demo is the CPU check)"
        )
    return None


def _node_requirement() -> str | None:
    has_vllm = importlib.util.find_spec("vllm") is not None
    if not has_vllm:
        return missing_requirement(False, False)
    import torch

    return missing_requirement(True, torch.cuda.is_available())


def train_command(data: Path, model: Path, run: Path, source: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "verl.trainer.main_ppo",
        *RECIPE,
        *TINY,
        *SOURCES[source],
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'test.parquet'}",
        f"actor_rollout_ref.model.path={model}",
        f"trainer.total_training_steps={STEPS}",
        f"trainer.total_epochs={STEPS}",
        f"trainer.save_freq={STEPS}",
        f"trainer.default_local_dir={run / 'checkpoints'}",
        f"trainer.experiment_name=gpu_smoke_{source}",
        f"hydra.run.dir={run / 'hydra'}",
    ]


def eval_command(data: Path, checkpoint: Path, out: Path, backend: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "verl_anomseer.eval",
        "--data",
        str(data / "test.parquet"),
        "--backend",
        backend,
        "--model",
        str(checkpoint),
        "--max-new-tokens",
        "48",
        "--limit",
        "8",
        "--out",
        str(out),
    ]
    return command + (["--max-model-len", "2048"] if backend == "vllm" else ["--device", "cuda"])


def _run(command: list[str], log: Path, env: dict, what: str, timeout: int) -> float:
    started = time.monotonic()
    with log.open("w") as fh:
        try:
            proc = subprocess.run(command, check=False, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SmokeFailure(f"{PROG}: {what} did not finish within {timeout} s; see {log}") from None
    if proc.returncode:
        raise SmokeFailure(f"{PROG}: {what} failed (exit {proc.returncode}); the end of {log} says why")
    return time.monotonic() - started


def check_metrics(records: list[dict]) -> list[str]:
    """One line per step with its time; SmokeFailure unless every step logged finite `timerpo/*` metrics."""
    if len(records) != STEPS:
        raise SmokeFailure(f"{PROG}: verl logged {len(records)} step(s), expected {STEPS}")
    lines = []
    for record in records:
        timerpo = {k: v for k, v in record["data"].items() if k.startswith("timerpo/")}
        bad = sorted(k for k, v in timerpo.items() if not (isinstance(v, (int, float)) and math.isfinite(v)))
        if not timerpo or bad:
            raise SmokeFailure(f"{PROG}: step {record['step']} logged no finite timerpo/* metrics ({bad or 'none'})")
        step_s = record["data"].get("timing_s/step", float("nan"))
        lines.append(
            f"  step {record['step']}: {step_s:.1f} s, grounding_mean="
            f"{timerpo.get('timerpo/grounding_mean', float('nan')):.3f}"
        )
    return lines


def smoke(out: Path, timeout: int) -> list[str]:
    """Stages 1-4 (module docstring); the report lines."""
    from verl_anomseer.cpu.tiny_model import build_tiny_qwen25vl

    env = dict(os.environ, **OFFLINE_ENV)
    data = build_data(out / "data", per_category=1, no_progress=True)
    model = build_tiny_qwen25vl(out / "model")
    report = []
    for source in SOURCES:
        run = out / source
        run.mkdir(parents=True, exist_ok=True)
        env["VERL_FILE_LOGGER_PATH"] = str(run / "metrics.jsonl")
        (run / "metrics.jsonl").unlink(missing_ok=True)
        seconds = _run(train_command(data, model, run, source), run / "train.log", env, f"training ({source})", timeout)
        report.append(f"grounding source {source}: {STEPS} steps in {seconds:.0f} s")
        report += check_metrics(read_metrics(run / "metrics.jsonl"))
        checkpoint = run / "checkpoints" / f"global_step_{STEPS}" / "actor"
        for backend in ("vllm", "hf"):
            seconds = _run(
                eval_command(data, checkpoint, run / f"eval_{backend}", backend),
                run / f"eval_{backend}.log",
                env,
                f"evaluation ({backend}, {source})",
                timeout,
            )
            report.append(f"  eval {backend}: {seconds:.0f} s -> {run / f'eval_{backend}' / 'report.md'}")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/gpu_smoke"), help="output folder (default runs/gpu_smoke)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per training or evaluation run")
    args = p.parse_args(argv)
    missing = _node_requirement()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        report = smoke(args.out.resolve(), args.timeout)
    except SmokeFailure as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print("\n".join([f"{PROG}: passed in {time.monotonic() - started:.0f} s", *report]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
