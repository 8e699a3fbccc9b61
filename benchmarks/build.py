"""Benchmark the data builder: throughput of the full default build, and per-row cost against render-only.

    python benchmarks/build.py [--quick] [--workers N] [--expcot-mode faithful|clean]

1. End to end: ``build_expcot`` with the default sizes (8 categories x 400 train + 8 x 400 test = 6,400 rows;
   ``--quick``: 8 x 25 + 8 x 25) into a temporary directory, pool start-up and parquet writing included.
2. Per row, in this process on one core, over the same series (interleaved, CPU time): the builder's full row
   (generate, ExpCoT, render, assemble, write parquet) against rendering the generated series alone (the baseline).
Both are measured in the same run; the figures are printed as ratios to their baseline or target.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from verl_anomseer.data import build
from verl_anomseer.series.generators import generate
from verl_anomseer.series.render import render_png
from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES

FULL_BUILD_TARGET_S = 90.0
PER_ROW_TARGET_RATIO = 2.0


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _full_build(per_category: int, workers: int, mode: str) -> tuple[int, float, float]:
    """(rows, wall seconds, CPU seconds of all processes) of one end-to-end build."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--train-per-category", str(per_category), "--test-per-category", str(per_category)]
        argv += ["--workers", str(workers), "--expcot-mode", mode, "--out", str(Path(tmp) / "data")]
        cpu, start = _cpu_seconds(), time.perf_counter()
        if build.main(argv) != 0:
            raise SystemExit("the build failed")
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        return 2 * per_category * len(ANOMLLM_CATEGORIES), wall, cpu


def _per_row(per_category: int, mode: str) -> tuple[float, float]:
    """CPU seconds per row: (render-only baseline, the builder's whole row) over the same series in this process,
    interleaved sample by sample and timed with ``process_time`` so that other load on shared cores cancels out."""
    samples = [
        s
        for split in build.SPLITS
        for s in build.split_samples("anomllm", ANOMLLM_CATEGORIES, split, per_category, build.DEFAULT_SEED, 1000, mode)
    ]
    build._init_worker()  # as in a builder worker
    render_only = whole_row = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        warm = build.SplitWriter(Path(tmp) / "warm-up.parquet")  # paid once per build: JIT, plot, parquet writer
        for category in ANOMLLM_CATEGORIES:
            warm.add(build.make_sample_row(build.Sample("anomllm", category, "train", 0, 1, 1000, mode)))
        warm.close()
        writer = build.SplitWriter(Path(tmp) / "rows.parquet")
        for sample in tqdm(samples, desc="render only vs builder row", unit="row"):
            values = generate(
                sample.suite, sample.category, sample.index, sample.seed, sample.length, split=sample.split
            )
            start = time.process_time()
            render_png(values.values)
            middle = time.process_time()
            writer.add(build.make_sample_row(sample))
            render_only, whole_row = render_only + middle - start, whole_row + time.process_time() - middle
        start = time.process_time()
        writer.close()
        whole_row += time.process_time() - start
    return render_only / len(samples), whole_row / len(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="8 x 25 train + 8 x 25 test rows instead of 8 x 400 + 8 x 400"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--expcot-mode", choices=build.EXPCOT_MODES, default="faithful")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be positive")
    per_category = 25 if args.quick else build.DEFAULT_PER_CATEGORY
    print(f"machine: {os.cpu_count()} CPU cores; workers {args.workers}; ExpCoT mode {args.expcot_mode}")
    rows, wall, cpu = _full_build(per_category, args.workers, args.expcot_mode)
    render_only, whole_row = _per_row(10 if args.quick else 25, args.expcot_mode)
    target = FULL_BUILD_TARGET_S
    print(f"full build: {rows} rows in {wall:.1f} s = {rows / wall:.1f} rows/s", end="; ")
    print(f"{wall / target:.2f}x the {target:.0f} s target")
    cores = min(args.workers, os.cpu_count() or 1)
    dedicated = cpu / cores
    print(
        f"  CPU time of all processes {cpu:.1f} s = {dedicated:.1f} s on {cores} dedicated core(s)"
        f" = {dedicated / target:.2f}x the target (the wall time exceeds this when the cores are shared)"
    )
    print(
        f"per row (one core, CPU time): render only {render_only * 1e3:.2f} ms (baseline = 1.00x);"
        f" builder row {whole_row * 1e3:.2f} ms = {whole_row / render_only:.2f}x render-only"
        f" (target <= {PER_ROW_TARGET_RATIO:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
