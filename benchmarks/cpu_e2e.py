"""Seconds per training step of TimerPO with each grounding source and of GRPO, same tiny setup, one run.

All runs are the demo's `main_ppo` on the CPU backend (recipe `cpu_smoke`, tiny Qwen2.5-VL, real plots), on
the same data and model; only the advantage estimator and the grounding source differ:

- `grpo`: verl's own estimator, no grounding (the baseline);
- `policy`: TimerPO grounded in the actor's own hidden states, scored inside the old-log-prob pass (the default);
- `reward`: TimerPO grounded by the frozen MiniLM encoder in the reward function (the ablation).

A step's time is verl's own `timing_s/step` (rollout + reward + old log-probs + advantage + update + weight
sync); the first step (warm-up: JIT, encoder load) is reported apart. The policy source's own phase is
`timing_s/grounding` (references + OT, inside `timing_s/old_log_prob`). Targets: policy / GRPO <= 1.25,
reward / GRPO <= 1.2.

    python benchmarks/cpu_e2e.py [--steps 4] [--out runs/bench_cpu_e2e]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from verl_anomseer.cpu.tiny_model import build_tiny_qwen25vl
from verl_anomseer.demo import DEMO_PROMPTS, TrainingRun, build_data, read_metrics, run_training

TARGETS = {"policy": 1.25, "reward": 1.2}
RUNS = {"grpo": ("grpo", "policy"), "policy": ("timerpo", "policy"), "reward": ("timerpo", "reward")}
PHASES = ("timing_s/step", "timing_s/gen", "timing_s/old_log_prob", "timing_s/adv", "timing_s/update_actor")


def phase_seconds(metrics_path: Path) -> dict[str, tuple[float, float]]:
    """Per phase of verl's timing: (first step, median of the later steps) in seconds; 0 for a missing phase."""
    records = [record["data"] for record in read_metrics(metrics_path)]
    phases = (*PHASES, "timing_s/grounding")
    return {p: (records[0].get(p, 0.0), statistics.median(r.get(p, 0.0) for r in records[1:])) for p in phases}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=4, help="training steps per run (>= 2)")
    p.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    args = p.parse_args(argv)
    if args.steps < 2:
        p.error(f"--steps must be >= 2 (the first step is warm-up), got {args.steps}")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_cpu_e2e_"))
    data = build_data(out / "data", per_category=1, no_progress=True)
    model = build_tiny_qwen25vl(out / "model", sft_steps=100)

    results = {}
    for name, (algorithm, grounding) in RUNS.items():  # baseline first
        run = out / name
        run.mkdir(parents=True, exist_ok=True)
        run_training(data, model, run, TrainingRun(args.steps, algorithm, grounding), timeout=900)
        results[name] = phase_seconds(run / "metrics.jsonl")

    print(f"\nCPU backend, tiny Qwen2.5-VL, {args.steps} steps each, {DEMO_PROMPTS} prompts x 8 rollouts per step")
    print("median seconds over the steps after the first; first = the warm-up step")
    names = ["first step"] + [phase.removeprefix("timing_s/") for phase in (*PHASES, "timing_s/grounding")]
    print(f"{'run':<8}" + "".join(f"{name:>14}" for name in names))
    for name, phases in results.items():
        cells = [phases["timing_s/step"][0]] + [phases[phase][1] for phase in (*PHASES, "timing_s/grounding")]
        print(f"{name:<8}" + "".join(f"{cell:>14.3f}" for cell in cells))
    base = results["grpo"]["timing_s/step"][1]
    for name, target in TARGETS.items():
        ratio = results[name]["timing_s/step"][1] / base
        verdict = "meets" if ratio <= target else "misses"
        print(f"TimerPO ({name} grounding) / GRPO seconds per step: {ratio:.2f}x ({verdict} the {target}x target)")
    policy = results["policy"]
    share = policy["timing_s/grounding"][1] / policy["timing_s/step"][1]
    print(f"policy grounding phase: {policy['timing_s/grounding'][1]:.3f} s per step, {share:.1%} of the step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
