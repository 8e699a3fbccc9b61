"""Seconds per training step of TimerPO (grounding on) and of GRPO, same tiny setup, measured in one run.

Both runs are the demo's `main_ppo` on the CPU backend (recipe `cpu_smoke`, tiny Qwen2.5-VL, real plots),
on the same data and model; only the advantage estimator and the reward's grounding term differ. A step's
time is verl's own `timing_s/step` (rollout + reward + advantage + update + weight sync); the first step
(warm-up: JIT, encoder load) is reported apart. Target: TimerPO / GRPO <= 1.2.

    python benchmarks/cpu_e2e.py [--steps 4] [--out runs/bench_cpu_e2e]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from verl_anomseer.cpu.tiny_model import build_tiny_qwen25vl
from verl_anomseer.demo import build_data, read_metrics, run_training

TARGET_RATIO = 1.2


PHASES = ("timing_s/step", "timing_s/gen", "timing_s/adv", "timing_s/update_actor")


def phase_seconds(metrics_path: Path) -> dict[str, tuple[float, float]]:
    """Per phase of verl's timing: (first step, median of the later steps) in seconds."""
    records = [record["data"] for record in read_metrics(metrics_path)]
    return {phase: (records[0][phase], statistics.median(r[phase] for r in records[1:])) for phase in PHASES}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=4, help="training steps per estimator (>= 2)")
    p.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    args = p.parse_args(argv)
    if args.steps < 2:
        p.error(f"--steps must be >= 2 (the first step is warm-up), got {args.steps}")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_cpu_e2e_"))
    data = build_data(out / "data", per_category=1, no_progress=True)
    model = build_tiny_qwen25vl(out / "model", sft_steps=100)

    results = {}
    for algorithm in ("grpo", "timerpo"):  # baseline first
        run = out / algorithm
        run.mkdir(parents=True, exist_ok=True)
        run_training(data, model, run, args.steps, algorithm, timeout=900)
        results[algorithm] = phase_seconds(run / "metrics.jsonl")

    print(f"\nCPU backend, tiny Qwen2.5-VL, {args.steps} steps each, 16 responses per step")
    print("median seconds over the steps after the first; first = the warm-up step")
    names = ["first step"] + [phase.removeprefix("timing_s/") for phase in PHASES]
    print(f"{'estimator':<10}" + "".join(f"{name:>14}" for name in names))
    for algorithm, phases in results.items():
        cells = [phases["timing_s/step"][0]] + [phases[phase][1] for phase in PHASES]
        print(f"{algorithm:<10}" + "".join(f"{cell:>14.3f}" for cell in cells))
    ratio = results["timerpo"]["timing_s/step"][1] / results["grpo"]["timing_s/step"][1]
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"TimerPO / GRPO seconds per step: {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
