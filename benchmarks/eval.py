"""Throughput of the classical detectors on the default test split (series per second).

The series are the builder's default AnomLLM test split (8 categories x 400, seed ``DEFAULT_SEED``, split
"test"), regenerated in-process (``--data TEST.parquet`` reads them from a built split instead). Each detector
runs through the evaluation backend (probe + canonical answer text), then every answer is scored with the
training reward. Baseline: the k-sigma detector, measured in the same run; ratios are time per series relative
to it. stumpy's JIT is warmed up on one series before timing. ``--quick`` uses 25 series per category.

    python benchmarks/eval.py [--quick] [--data TEST.parquet]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from verl_anomseer.data.build import DEFAULT_PER_CATEGORY, DEFAULT_SEED
from verl_anomseer.eval.backends import DETECTORS
from verl_anomseer.eval.backends.detector import DetectorBackend
from verl_anomseer.eval.records import score_record
from verl_anomseer.eval.samples import Sample
from verl_anomseer.series.generators import generate
from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES

BASELINE = "ksigma"


def default_split(per_category: int) -> list[Sample]:
    samples = []
    for category in ANOMLLM_CATEGORIES:
        for index in range(per_category):
            s = generate("anomllm", category, index, DEFAULT_SEED, split="test")
            gt = {"intervals": [list(i) for i in s.intervals], "label": s.label, "length": len(s.values)}
            samples.append(
                Sample(
                    f"anomllm/{category}/test/{index:05d}",
                    "anomllm",
                    category,
                    f"anomseer/anomllm/{category}",
                    "",
                    b"",
                    s.values,
                    gt,
                    {},
                )
            )
    return samples


def parquet_split(path: Path, per_category: int) -> list[Sample]:
    rows = pq.read_table(path, columns=["data_source", "reward_model", "extra_info", "series"]).to_pylist()
    taken: dict[str, int] = {}
    samples = []
    for row in rows:
        info = row["extra_info"]
        if taken.setdefault(info["category"], 0) < per_category:
            taken[info["category"]] += 1
            samples.append(
                Sample(
                    info["series_id"],
                    info["suite"],
                    info["category"],
                    row["data_source"],
                    "",
                    b"",
                    np.asarray(row["series"]),
                    row["reward_model"]["ground_truth"],
                    info,
                )
            )
    return samples


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="25 series per category instead of 400")
    p.add_argument("--data", type=Path, help="read the series from a built test parquet")
    args = p.parse_args(argv)
    if args.data is not None and not args.data.is_file():
        print(f"eval.py: error: --data {args.data}: no such file", file=sys.stderr)
        return 2
    per_category = 25 if args.quick else DEFAULT_PER_CATEGORY
    samples = parquet_split(args.data, per_category) if args.data else default_split(per_category)
    print(f"{len(samples)} series ({per_category} per category), 1 process")

    seconds: dict[str, float] = {}
    answers: dict[str, list[tuple[Sample, str]]] = {}
    for name in (BASELINE, *[d for d in DETECTORS if d != BASELINE]):
        backend = DetectorBackend(name)
        backend.check()
        list(backend.generate(samples[:1], seed=0))  # warm-up: JIT, imports
        seconds[name], answers[name] = timed(lambda b=backend: list(b.generate(samples, seed=0)))
    score_seconds, _ = timed(lambda: [score_record(s, t, 0) for s, t in answers[BASELINE]])

    base = seconds[BASELINE] / len(samples)
    print(f"{'detector':<10} {'series/s':>10} {'ms/series':>10} {'x ' + BASELINE:>10}")
    for name, total in seconds.items():
        per = total / len(samples)
        print(f"{name:<10} {1 / per:>10.1f} {1000 * per:>10.2f} {per / base:>10.1f}")
    per = score_seconds / len(samples)
    print(f"{'(scoring)':<10} {1 / per:>10.1f} {1000 * per:>10.2f} {per / base:>10.1f}   (parse + reward per answer)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
