"""`make demo`: the whole AnomSeer pipeline on a laptop CPU, through unmodified verl, learning visibly.

    python -m verl_anomseer.demo --out runs/demo

1. builds a small ExpCoT dataset (the `data_prep/build_expcot.py` builder)                 -> OUT/data
2. builds the tiny Qwen2.5-VL and warm-starts it for `--sft-steps` supervised steps on well-formed answers
   with random content, so that it emits the answer format                                 -> OUT/model
3. evaluates that model on the train and test splits (`python -m verl_anomseer.eval --backend hf`, greedy)
                                                                                            -> OUT/eval_before
4. trains `--steps` TimerPO steps with grounding at `--lr`: `python -m verl.trainer.main_ppo` on the CPU
   backend (recipe `cpu_smoke`) -> OUT/train.log, OUT/metrics.jsonl (verl's file logger),
   OUT/rollouts/<step>.jsonl (generations and scores), OUT/checkpoints/global_step_N/actor/huggingface
5. evaluates the checkpoint the same way -> OUT/eval; writes OUT/learning_curve.png (per step: mean reward,
   format, class and localization parts, grounding) and prints the curve and a before/after table.
Data and model are reused when already built with the same settings (rebuilt otherwise); training and
evaluation rerun.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from verl_anomseer.cli_args import non_negative_float, positive
from verl_anomseer.cluster import LOOPBACK_ENV
from verl_anomseer.cpu import ENV_FLAG

RECIPE = ("--config-path=pkg://verl_anomseer.recipes", "--config-name=cpu_smoke")
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
}
GROUNDING_SOURCES = ("policy", "reward")
REWARD_GROUNDING = (
    "algorithm.timerpo.grounding.source=reward",
    "+reward.custom_reward_function.reward_kwargs.grounding.similarity=ot",
)
DEMO_STEPS = 30
DEMO_LR = 1e-3  # ten times the cpu_smoke recipe's: a 0.2 M-parameter model moves visibly within DEMO_STEPS steps
DEMO_PROMPTS = 4  # prompts per step (x 8 rollouts), two of the recipe's mini-batches: less noise per step
SPLITS = ("train", "test")
SUMMARY_KEYS = (
    "critic/score/mean",
    "timerpo/grounding_mean",
    "timerpo/proj_coef_mean",
    "actor/grad_norm",
    "training/rollout_probs_diff_max",
    "timing_s/step",
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m verl_anomseer.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output folder (data, model, logs, checkpoint, eval)")
    p.add_argument(
        "--steps", type=positive(int), default=DEMO_STEPS, help=f"TimerPO training steps (default {DEMO_STEPS})"
    )
    p.add_argument(
        "--prompts",
        type=positive(int),
        default=DEMO_PROMPTS,
        help=f"prompts per training step, each with 8 rollouts (default {DEMO_PROMPTS})",
    )
    p.add_argument(
        "--lr",
        type=non_negative_float,
        default=DEMO_LR,
        help=f"actor learning rate (default {DEMO_LR:g}; 0 trains nothing, the learning test's control)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and of the rollout's sampling")
    p.add_argument("--algorithm", choices=("timerpo", "grpo"), default="timerpo", help="advantage estimator")
    p.add_argument(
        "--grounding",
        choices=GROUNDING_SOURCES,
        default="policy",
        help="TimerPO's grounding source: the actor's own hidden states (policy, the paper's) or a frozen "
        "encoder in the reward function (reward)",
    )
    p.add_argument("--data", type=Path, help="dataset folder to use or build (default OUT/data)")
    p.add_argument("--model", type=Path, help="tiny model folder to use or build (default OUT/model)")
    p.add_argument("--per-category", type=positive(int), default=2, help="train and test series per category")
    p.add_argument("--sft-steps", type=int, default=100, help="warm-start steps of the tiny model (0: random)")
    p.add_argument("--timeout", type=positive(int), default=540, help="seconds allowed for training")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluations before and after training")
    p.add_argument("--no-progress", action="store_true", help="hide the dataset builder's progress bar")
    return p


def build_data(out: Path, per_category: int, no_progress: bool) -> Path:
    """The small ExpCoT dataset (AnomLLM suite, 400 points); rebuilt unless ``out`` holds one of this size."""
    from verl_anomseer.data.build import main as build_main

    manifest = out / "manifest.json"
    built = json.loads(manifest.read_text()).get("args", {}) if manifest.is_file() else {}
    if (built.get("train_per_category"), built.get("test_per_category"), built.get("length")) != (
        per_category,
        per_category,
        400,
    ):
        argv = ["--out", str(out), "--length", "400", "--workers", "1"]
        argv += ["--train-per-category", str(per_category), "--test-per-category", str(per_category)]
        argv += ["--overwrite"] + (["--no-progress"] if no_progress else [])
        rc = build_main(argv)
        if rc:
            raise SystemExit(f"demo: building the dataset failed (exit {rc})")
    return out


@dataclass(frozen=True)
class TrainingRun:
    """What the demo trains: `steps` steps of `prompts` prompts with `algorithm` (timerpo with `grounding`, or grpo)
    at learning rate `lr`, data order and sampling seeded by `seed`."""

    steps: int
    algorithm: str = "timerpo"
    grounding: str = "policy"
    lr: float = DEMO_LR
    prompts: int = DEMO_PROMPTS
    seed: int = 0


def train_command(data: Path, model: Path, run: Path, training: TrainingRun) -> list[str]:
    """The `main_ppo` command line of the demo's training run `training` (recipe `cpu_smoke`)."""
    steps, seed = training.steps, training.seed
    command = [sys.executable, "-m", "verl.trainer.main_ppo", *RECIPE]
    command += [
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'test.parquet'}",
        f"actor_rollout_ref.model.path={model}",
        f"trainer.total_training_steps={steps}",
        f"actor_rollout_ref.actor.optim.lr={training.lr}",
        f"data.train_batch_size={training.prompts}",
        f"data.seed={seed}",
        f"actor_rollout_ref.rollout.seed={seed}",
        f"trainer.total_epochs={steps}",  # enough passes over a small dataset for `steps` steps
        f"trainer.save_freq={steps}",
        f"trainer.default_local_dir={run / 'checkpoints'}",
        f"trainer.rollout_data_dir={run / 'rollouts'}",
        f"trainer.experiment_name=demo_{training.algorithm}",
        f"hydra.run.dir={run / 'hydra'}",
    ]
    if training.algorithm == "grpo":  # verl's own estimator; no grounding is computed
        command += ["algorithm.adv_estimator=grpo"]
    elif training.grounding == "reward":  # the ablation: a frozen encoder in the reward function
        command += list(REWARD_GROUNDING)
    return command


def train_env(metrics: Path) -> dict[str, str]:
    """The training command's environment: offline, the CPU backend on, verl's file logger, and a Ray cluster
    that listens on 127.0.0.1 only (Ray's token authentication stays on as well)."""
    env = dict(os.environ, **OFFLINE_ENV, **LOOPBACK_ENV)
    env[ENV_FLAG] = "1"
    env["VERL_FILE_LOGGER_PATH"] = str(metrics)
    return env


def read_metrics(path: Path) -> list[dict]:
    """verl's file logger: one JSON object `{"step": n, "data": {metric: value}}` per training step."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_training(data: Path, model: Path, out: Path, training: TrainingRun, timeout: int) -> Path:
    """Run main_ppo; return the Hugging Face checkpoint of the last step."""
    metrics, log = out / "metrics.jsonl", out / "train.log"
    for stale in (metrics, out / "checkpoints", out / "rollouts"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    command = train_command(data, model, out, training)
    print(
        f"demo: training {training.steps} {training.algorithm} steps at lr {training.lr:g} on the CPU backend "
        f"(log: {log})",
        flush=True,
    )
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                command, check=False, env=train_env(metrics), stdout=fh, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise SystemExit(f"demo: training did not finish within {timeout} s; see {log}") from None
    if proc.returncode != 0:
        raise SystemExit(f"demo: training failed (exit {proc.returncode}); the end of {log} says why")
    checkpoint = out / "checkpoints" / f"global_step_{training.steps}" / "actor" / "huggingface"
    if not (checkpoint / "config.json").is_file():
        raise SystemExit(f"demo: training finished but wrote no Hugging Face checkpoint at {checkpoint}")
    return checkpoint


def run_eval(data: Path, model: Path, out: Path) -> int:
    """Greedy evaluation of ``model`` on each of :data:`SPLITS` into ``out/<split>``; the worst exit code."""
    codes = []
    for split in SPLITS:
        command = [sys.executable, "-m", "verl_anomseer.eval", "--data", str(data / f"{split}.parquet")]
        command += ["--backend", "hf", "--model", str(model), "--device", "cpu", "--max-new-tokens", "48"]
        command += ["--out", str(out / split)]
        print(f"demo: evaluating {model} on the {split} split", flush=True)
        codes.append(subprocess.run(command, check=False, env=dict(os.environ, **OFFLINE_ENV)).returncode)
    return max(codes)


def before_after(before: Path, after: Path) -> str:
    """The before/after table of the two evaluations (folders of per-split reports)."""
    from verl_anomseer.cpu.learning import before_after_table, report_means

    names = {"train": "train (plots trained on)", "test": "test (unseen plots)"}
    rows = [
        (names[s], report_means(before / s / "report.csv"), report_means(after / s / "report.csv"))
        for s in SPLITS
        if (before / s / "report.csv").is_file() and (after / s / "report.csv").is_file()
    ]
    return before_after_table(rows) if rows else "  (no evaluation reports to compare)"


def curve_summary(out: Path, steps: int) -> str:
    """``learning_curve.png`` and the lines that say what it shows (per-step reward, first vs last steps)."""
    from verl_anomseer.cpu.learning import plot_curve, step_curve, window_means

    curve = step_curve(out)
    if not curve:
        return "  (no rollouts dumped: no learning curve)"
    path = plot_curve(curve, out / "learning_curve.png", f"tiny Qwen2.5-VL, {steps} TimerPO steps on CPU")
    lines = [f"  learning curve {path}", "  mean reward per step: " + " ".join(f"{r['score']:.2f}" for r in curve)]
    width = max(1, len(curve) // 4)
    if len(curve) >= 2 * width:
        first, last = window_means(curve, width)
        lines.append(f"  mean reward, first {width} steps {first:.3f} -> last {width} steps {last:.3f}")
    return "\n".join(lines)


def _summary(records: list[dict]) -> str:
    lines = []
    for record in records:
        values = record["data"]
        shown = ", ".join(
            f"{key.split('/')[-1] if key.startswith('timing') else key}={values[key]:.4g}"
            for key in SUMMARY_KEYS
            if isinstance(values.get(key), (int, float)) and math.isfinite(values[key])
        )
        lines.append(f"  step {record['step']}: {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.sft_steps < 0:
        _parser().error(f"--sft-steps must be >= 0, got {args.sft_steps}")
    out = args.out.resolve()
    if out.exists() and not out.is_dir():
        _parser().error(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update(OFFLINE_ENV)
    started = time.monotonic()

    from verl_anomseer.cpu.tiny_model import build_tiny_qwen25vl

    data = build_data((args.data or out / "data").resolve(), args.per_category, args.no_progress)
    print(f"demo: building the tiny Qwen2.5-VL ({args.sft_steps} warm-start steps)", flush=True)
    model = build_tiny_qwen25vl((args.model or out / "model").resolve(), sft_steps=args.sft_steps)
    before, after = out / "eval_before", out / "eval"
    for stale in (before, after):
        shutil.rmtree(stale, ignore_errors=True)
    eval_rc = None if args.no_eval else run_eval(data, model, before)
    training = TrainingRun(args.steps, args.algorithm, args.grounding, args.lr, args.prompts, args.seed)
    checkpoint = run_training(data, model, out, training, args.timeout)
    if not args.no_eval:
        eval_rc = max(eval_rc, run_eval(data, checkpoint, after))

    print(f"\ndemo: done in {time.monotonic() - started:.0f} s")
    print(f"  data        {data}")
    print(f"  model       {model}")
    print(f"  train log   {out / 'train.log'}")
    print(f"  metrics     {out / 'metrics.jsonl'}")
    print(f"  generations {out / 'rollouts'}")
    print(_summary(read_metrics(out / "metrics.jsonl")))
    print(curve_summary(out, args.steps))
    print(f"  checkpoint  {checkpoint}")
    if eval_rc is not None:
        print(
            f"  evaluation  {before} (warm start), {after} (after training)"
            + ("" if eval_rc == 0 else f" (failed, exit {eval_rc})")
        )
        print("\nGreedy evaluation before and after training, % (all series):")
        print(before_after(before, after))
    print(
        "\n  What a 0.2 M-parameter model can learn in minutes: to keep the answer format it was warm-started on and\n"
        "  the answers that pay on average (the classes and interval positions common in the training plots,\n"
        "  `[]`/normal where that scores). It does not learn to read plots: do not read these numbers as accuracy.\n"
        "  Train a recipe such as timerpo_qwen2_5_vl_3b on GPUs for real numbers (see README)."
    )
    return 0 if not eval_rc else 1


if __name__ == "__main__":
    sys.exit(main())
