"""What the demo shows of a training run: per-step reward parts, the learning curve and a before/after table.

Per step: the mean reward verl trained on, over the step's rollouts (verl's dump in ``rollouts/<step>.jsonl``:
each generation, its ground truth and its score); the mean of each reward part, from re-scoring each dumped
generation with the reward function (the dump holds the score, not its parts); and the mean grounding
(``timerpo/grounding_mean`` in verl's ``metrics.jsonl``). No verl import.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from verl_anomseer.scoring.answer import DEFAULT_PARSER
from verl_anomseer.scoring.reward import compute_score

CURVE_PARTS: tuple[str, ...] = ("score", "fmt", "cls", "loc")
GROUNDING_METRIC = "timerpo/grounding_mean"
SMOOTH = 5  # steps in the curve's running mean of the reward
TABLE_METRICS: dict[str, str] = {
    "score": "Reward",
    "fmt": "Format",
    "cls": "Class acc",
    "pt_f1": "Point F1",
    "aff_f1": "Aff F1",
}  # columns of the evaluation's report.csv


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def step_curve(run: Path, parser: str = DEFAULT_PARSER) -> list[dict]:
    """One row per trained step, in step order: ``step``, the mean of each of :data:`CURVE_PARTS` over the step's
    rollouts (parts scored with ``parser``, the one the run trained with), ``n`` (rollouts) and ``grounding``
    (NaN when the run logged none)."""
    logged = {r["step"]: r["data"] for r in _jsonl(run / "metrics.jsonl")} if (run / "metrics.jsonl").is_file() else {}
    rows = []
    for path in sorted((run / "rollouts").glob("*.jsonl"), key=lambda p: int(p.stem)):
        samples = _jsonl(path)
        if not samples:
            continue
        parts = [compute_score("", s["output"], s["gts"], parser=parser) for s in samples]
        row = {"step": int(path.stem), "n": len(samples)}
        row["score"] = math.fsum(s["score"] for s in samples) / len(samples)
        row.update({k: math.fsum(p[k] for p in parts) / len(parts) for k in CURVE_PARTS[1:]})
        row["grounding"] = float(logged.get(row["step"], {}).get(GROUNDING_METRIC, math.nan))
        rows.append(row)
    return rows


def window_means(curve: list[dict], width: int, key: str = "score") -> tuple[float, float]:
    """Mean of ``key`` over the first and over the last ``width`` steps of ``curve``."""
    if len(curve) < 2 * width:
        raise ValueError(f"need at least {2 * width} steps to compare two windows of {width}, got {len(curve)}")
    first, last = curve[:width], curve[-width:]
    return (math.fsum(r[key] for r in first) / width, math.fsum(r[key] for r in last) / width)


def plot_curve(curve: list[dict], path: Path, title: str) -> Path:
    """``learning_curve.png``: mean reward, its parts and the grounding per step (one 0..1 axis), and the reward's
    running mean over :data:`SMOOTH` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in curve]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    styles = {
        "score": ("reward (0.7 loc + 0.2 cls + 0.1 fmt)", "black", 2.5),
        "fmt": ("format", "tab:blue", 1.2),
        "cls": ("class", "tab:orange", 1.2),
        "loc": ("localization", "tab:green", 1.2),
        "grounding": ("grounding", "tab:purple", 1.2),
    }
    for key, (label, color, width) in styles.items():
        values = [r[key] for r in curve]
        if all(math.isnan(v) for v in values):
            continue
        ax.plot(
            steps,
            values,
            label=label,
            color=color,
            linewidth=width,
            marker="o" if len(steps) <= 20 else None,
            markersize=3,
        )
    if len(curve) >= 2 * SMOOTH:
        scores = [r["score"] for r in curve]
        smooth = [math.fsum(scores[i : i + SMOOTH]) / SMOOTH for i in range(len(scores) - SMOOTH + 1)]
        ax.plot(
            steps[SMOOTH - 1 :],
            smooth,
            color="black",
            linestyle="--",
            linewidth=1.5,
            label=f"reward, mean of the last {SMOOTH} steps",
        )
    ax.set(xlabel="training step", ylabel="mean over the step's rollouts", ylim=(-0.02, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def report_means(report_csv: Path) -> dict[str, float]:
    """The ``all series`` means of :data:`TABLE_METRICS` in an evaluation's ``report.csv``."""
    means = {}
    with report_csv.open() as fh:
        for row in csv.DictReader(fh):
            if (row["subset"], row["kind"], row["name"]) == ("all", "average", "all series"):
                means[row["metric"]] = float(row["mean"])
    return {k: means[k] for k in TABLE_METRICS if k in means}


def before_after_table(rows: list[tuple[str, dict[str, float], dict[str, float]]]) -> str:
    """A plain-text table: one line per (split name, before means, after means), values in %."""
    header = f"{'split':<26}" + "".join(f"{title:>18}" for title in TABLE_METRICS.values())
    lines = [header, " " * 26 + "".join(f"{'before -> after':>18}" for _ in TABLE_METRICS)]
    for name, before, after in rows:
        cells = "".join(
            f"{100 * before.get(k, math.nan):>9.1f} -> {100 * after.get(k, math.nan):>5.1f}" for k in TABLE_METRICS
        )
        lines.append(f"{name:<26}{cells}")
    return "\n".join(lines)
