"""Detection throughput on one long series: points per second through the windowed path, per detector.

A labelled series of ``--points`` rows (default 1,000,000: a noisy sine with a spike, a level shift and a
frequency change every 50,000 rows) is written to an ``.npy`` file with its intervals; each detector then runs the
whole ``python -m verl_anomseer.detect`` path in-process (read, window 1000 / stride 500, answer, vote, write
``anomalies.csv``, the plot and the report). Baseline, in the same run: scikit-learn IsolationForest fitted on the
raw series (this project's ``iforest`` settings: windows of 10 values, 3 % contamination), no windowing. The
ratio is windowed points/s over the baseline's; the series-level affiliation F1 of each run is printed beside it.

    python benchmarks/detect.py [--points N] [--detectors ksigma discord probes iforest] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from verl_anomseer.detect.cli import main as detect
from verl_anomseer.eval.backends import DETECTORS
from verl_anomseer.eval.backends.detector import iforest_intervals
from verl_anomseer.scoring.metrics import affiliation_prf

EVERY = 50_000


def long_series(points: int, seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    """A noisy sine with three kinds of anomaly every ``EVERY`` rows, and their ``[start, end)`` rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    values = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, points)
    intervals = []
    for k, start in enumerate(range(EVERY // 2, points - 200, EVERY)):
        kind = k % 3
        end = start + (5, 100, 150)[kind]
        if kind == 0:
            values[start:end] += 3.0
        elif kind == 1:
            values[start:end] += 1.5
        else:
            values[start:end] = np.sin(2 * np.pi * t[start:end] / 12)
        intervals.append([start, end])
    return values, intervals


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    p.add_argument("--workers", type=int, default=1, help="detector processes in the windowed path")
    args = p.parse_args()

    values, intervals = long_series(args.points)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "long.npy", values)
        (tmp / "spans.json").write_text(json.dumps({"long.npy": intervals}))
        base_s, base_pred = timed(lambda: iforest_intervals(values, seed=0))
        base_f1 = affiliation_prf(base_pred, intervals, args.points)[2]
        base_pps = args.points / base_s
        print(f"{args.points:,} points, {len(intervals)} labelled intervals, 2-core shared machines are noisy")
        print(
            f"baseline IsolationForest on the raw series: {base_s:.1f} s, {base_pps:,.0f} points/s, aff F1 "
            f"{base_f1:.3f}"
        )
        print(f"{'detector':<10} {'seconds':>9} {'points/s':>12} {'vs baseline':>12} {'aff F1':>7}")
        for detector in args.detectors:
            out = tmp / detector
            argv = [
                str(tmp / "long.npy"),
                "--intervals",
                str(tmp / "spans.json"),
                "--detector",
                detector,
                "--workers",
                str(args.workers),
                "--out",
                str(out),
                "--no-progress",
            ]
            seconds, code = timed(lambda: detect(argv))  # noqa: B023 (called at once)
            if code != 0:
                raise SystemExit(f"detect exited with {code} for {detector}")
            f1 = pd.read_csv(out / "report.csv").iloc[0]["aff_f1"]
            pps = args.points / seconds
            print(f"{detector:<10} {seconds:>9.1f} {pps:>12,.0f} {pps / base_pps:>11.2f}x {f1:>7.3f}")


if __name__ == "__main__":
    main()
