"""Benchmark the reward: responses/s of ``compute_score`` on one core, and our metrics against the reference ones.

Ground truth comes from the AnomLLM generators (length 1000 by default); responses are an even mix of
correct, partial (shifted/shrunk intervals, sometimes the wrong class), wrong (random intervals and class) and
malformed (no tags, truncated or garbage answers). Printed, all measured in this run:

1. ``compute_score`` responses/s (target >= 2,000 on one core);
2. point metrics: our ``point_prf`` vs scikit-learn's ``precision_recall_fscore_support`` on the same masks
   (speed ratio, target >= 10x; the largest absolute difference);
3. affiliation: our closed form vs the authors' reference ``pr_from_events`` when ``tsadmetrics`` is installed.

Usage: python benchmarks/reward.py [--responses 4000] [--length 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from tqdm import tqdm

from verl_anomseer.scoring.intervals import as_events
from verl_anomseer.scoring.metrics import affiliation_prf, point_prf
from verl_anomseer.scoring.reward import compute_score
from verl_anomseer.series.generators import generate
from verl_anomseer.series.intervals import intervals_to_mask
from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES, CLASSES

KINDS = ("correct", "partial", "wrong", "malformed")


def _response(kind: str, gt: list, label: str, length: int, rng: np.random.Generator) -> tuple[str, list]:
    think = "<think>Observation: the series is stable except for a burst; checking its width and level.</think>"
    if kind == "correct":
        pred = [list(iv) for iv in gt]
        cls = label
    elif kind == "partial":
        pred = [[max(0, s + int(rng.integers(-30, 30))), max(1, e + int(rng.integers(-30, 30)))] for s, e in gt]
        cls = label if rng.random() < 0.5 else str(rng.choice(CLASSES))
    elif kind == "wrong":
        starts = np.sort(rng.integers(0, length - 20, size=int(rng.integers(0, 4))))
        pred = [[int(s), int(s) + int(rng.integers(5, 20))] for s in starts]
        cls = str(rng.choice(CLASSES))
    else:
        return str(
            rng.choice(
                [
                    "The anomaly is probably near the middle.",
                    f"{think}<answer>[[{int(rng.integers(0, length))}, ",
                    f"{think}<answer>somewhere late</answer><class>trend</class>",
                    f"<answer>[[1e308, -4], [NaN, 3]]</answer><class>{label}</class>",
                ]
            )
        ), []
    return f"{think}<answer>{json.dumps(pred)}</answer><class>{cls}</class>", pred


def build_cases(n: int, length: int, seed: int) -> list[tuple[str, dict, list]]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in tqdm(range(n), desc="building cases", leave=False):
        series = generate("anomllm", ANOMLLM_CATEGORIES[i % len(ANOMLLM_CATEGORIES)], i, seed, length)
        gt = {"intervals": [list(iv) for iv in series.intervals], "label": series.label, "length": length}
        text, pred = _response(KINDS[i % len(KINDS)], series.intervals, series.label, length, rng)
        cases.append((text, gt, pred))
    return cases


def _rate(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(*item)
    return len(items) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=4000, help="number of scored responses (>= 8)")
    parser.add_argument("--length", type=int, default=1000, help="series length (>= 100)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.responses < 8 or args.length < 100:
        parser.error("--responses must be >= 8 and --length >= 100")

    from sklearn.metrics import precision_recall_fscore_support

    cases = build_cases(args.responses, args.length, args.seed)
    L = args.length
    print(f"{len(cases)} responses at length {L}: {', '.join(KINDS)} in equal shares (1 process, 1 core)")

    score_args = [("anomseer/anomllm/x", text, gt) for text, gt, _ in cases]
    compute_score(*score_args[0])  # warm up imports
    rate = _rate(compute_score, score_args)
    print(f"compute_score: {rate:,.0f} responses/s (target >= 2,000: {'met' if rate >= 2000 else 'NOT met'})")

    pairs = [(as_events(pred, L).tolist(), gt["intervals"]) for _, gt, pred in cases]
    pairs = [(p, g) for p, g in pairs if p and g]
    masks = [(intervals_to_mask(g, L), intervals_to_mask(p, L)) for p, g in pairs]
    ours = _rate(lambda p, g: point_prf(p, g, L), pairs)
    sk = _rate(lambda y, yhat: precision_recall_fscore_support(y, yhat, average="binary", zero_division=0), masks)
    diff = max(
        float(
            np.max(
                np.abs(
                    np.subtract(
                        point_prf(p, g, L),
                        precision_recall_fscore_support(y, yh, average="binary", zero_division=0)[:3],
                    )
                )
            )
        )
        for (p, g), (y, yh) in zip(pairs, masks)
    )
    print(
        f"point P/R/F1 on {len(pairs)} non-empty pairs: ours {ours:,.0f}/s, scikit-learn {sk:,.0f}/s "
        f"-> {ours / sk:.1f}x (target >= 10x: {'met' if ours / sk >= 10 else 'NOT met'}); max |diff| {diff:.1e}"
    )

    try:
        from tsadmetrics.utils.functions_affiliation import pr_from_events
    except ImportError:
        print("affiliation reference: tsadmetrics not installed, skipped")
        return
    events = [([tuple(x) for x in p], [tuple(x) for x in g]) for p, g in pairs]
    ours = _rate(lambda p, g: affiliation_prf(p, g, L), events)
    ref = _rate(lambda p, g: pr_from_events(p, g, (0, L)), events)
    print(
        f"affiliation P/R/F1 on {len(events)} pairs: ours {ours:,.0f}/s, reference pr_from_events {ref:,.0f}/s "
        f"-> {ours / ref:.1f}x (few events: numpy's per-call overhead dominates)"
    )
    rng = np.random.default_rng(args.seed)
    big = 100 * L

    def random_events(size: int) -> list:
        return as_events(np.sort(rng.choice(big, size, replace=False)).reshape(-1, 2), big).tolist()

    many = [(random_events(400), random_events(40)) for _ in range(20)]
    many = [([tuple(x) for x in p], [tuple(x) for x in g]) for p, g in many]
    ours = _rate(lambda p, g: affiliation_prf(p, g, big), many)
    ref = _rate(lambda p, g: pr_from_events(p, g, (0, big)), many)
    print(
        f"affiliation with 200 predicted / 20 true events on length {big}: ours {ours:,.0f}/s, "
        f"reference {ref:,.0f}/s -> {ours / ref:.1f}x"
    )


if __name__ == "__main__":
    main()
