"""Benchmark the ExpCoT probes.

1. stumpy's per-process first-call cost (JIT), each in a fresh process with a private numba cache dir:
   without the cache, with ``stumpy_cache.enable()`` on a cold cache (compiles and writes), and on a warm cache.
   Ratios are against the warm-cache call.
2. Per-series cost of ``analyze`` (all probes), ``clean_trace`` and each probe, as ratios against rendering
   the same series with ``series.render.render_png`` (the builder's other per-row cost), in one process.
3. ``--accuracy``: on ``--series`` AnomLLM test-split series per category (seed 3407), the share where
   ``analyze(values).label`` equals the ground-truth class, and the mean affiliation F1 on anomalous series,
   against a baseline measured in the same run: the same selection with the authors' Savitzky-Golay gradient
   rule (``trend_probe``'s longest run >= 10 samples) as the trend test instead of ``slope_shift_probe``.

Usage: python benchmarks/expcot_probes.py [--length 1000] [--series 40] [--skip-jit] [--accuracy]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

_FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
import stumpy
if {enable}:
    from verl_anomseer.expcot import stumpy_cache
    stumpy_cache.enable()
t1 = time.perf_counter()
stumpy.stump(np.sin(np.arange({length}) * 0.1) + np.random.default_rng(0).normal(0, 0.1, {length}), 50)
print(time.perf_counter() - t1, t1 - t0)
"""


def _first_call(enable: bool, cache_dir: str, length: int) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL.format(enable=enable, length=length)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0])


def bench_jit(length: int) -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        plain = _first_call(False, cache_dir, length)
        cold = _first_call(True, cache_dir, length)
        warm = _first_call(True, cache_dir, length)
    print(f"stumpy first call in a new process (L={length}, m=50):")
    print(f"  no cache           {plain:7.2f} s   {plain / warm:6.1f}x warm cache")
    print(f"  cache, cold (write){cold:7.2f} s   {cold / warm:6.1f}x warm cache")
    print(f"  cache, warm (load) {warm:7.2f} s   1.0x")


def _per_call(fn, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - t0) / len(items)


def bench_probes(length: int, n: int) -> None:
    from verl_anomseer.expcot import analyze, clean_trace, probes, stumpy_cache
    from verl_anomseer.series.render import render_png

    stumpy_cache.enable()
    rng = np.random.default_rng(0)
    t = np.arange(length)
    batch = [np.sin(2 * np.pi * 0.03 * t) * 0.7 + rng.normal(0, 0.05, length) for _ in range(n)]
    analyze(batch[0]), render_png(batch[0])  # warm-up: JIT, matplotlib import
    render = _per_call(render_png, batch)
    rows = {
        "render_png (baseline)": render,
        "analyze (all probes)": _per_call(analyze, batch),
        "clean_trace": _per_call(clean_trace, batch),
        "ksigma_probe": _per_call(probes.ksigma_probe, batch),
        "trend_probe": _per_call(probes.trend_probe, batch),
        "slope_shift_probe": _per_call(probes.slope_shift_probe, batch),
        "freq_probe": _per_call(probes.freq_probe, batch),
        "discord_probe": _per_call(probes.discord_probe, batch),
    }
    print(f"per-series cost, L={length}, {n} series:")
    for name, sec in rows.items():
        print(f"  {name:24s}{sec * 1e3:8.2f} ms   {sec / render:6.2f}x render")


GRADIENT_MIN_RUN = 10  # the gradient rule's run length, before the slope-shift probe replaced it


def gradient_rule(values) -> tuple[str, list[tuple[int, int]]]:
    """Baseline selection: ``analyze``'s order with the authors' gradient probe as the trend test."""
    from verl_anomseer.expcot import DETECTOR_CLASS, probes
    from verl_anomseer.expcot.selection import GLOBAL_Z, NOISE_RATIO

    x = probes.as_series(values)
    scan = probes.ksigma_probe(x)
    if scan.stats["max_robust_z"] > GLOBAL_Z:
        return DETECTOR_CLASS["ksigma"], scan.intervals
    structural = probes.denoise(x) if probes.noise_ratio(x) > NOISE_RATIO else x
    runs = [(s, e) for s, e in probes.trend_probe(structural).intervals if e - s >= GRADIENT_MIN_RUN]
    if runs:
        return DETECTOR_CLASS["trend"], runs
    for detector, probe in (("freq", probes.freq_probe), ("discord", probes.discord_probe)):
        found = probe(structural).intervals
        if found:
            return DETECTOR_CLASS[detector], found
    return DETECTOR_CLASS["none"], []


def bench_accuracy(n: int, seed: int = 3407) -> None:
    from tqdm import tqdm

    from verl_anomseer.expcot import analyze, stumpy_cache
    from verl_anomseer.scoring.metrics import affiliation_prf
    from verl_anomseer.series.generators import generate
    from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES

    stumpy_cache.enable()
    rows = []
    for category in tqdm(ANOMLLM_CATEGORIES, desc="accuracy", unit="category"):
        right = {"gradient rule": [], "slope shift": []}
        f1 = {"gradient rule": [], "slope shift": []}
        for index in range(n):
            series = generate("anomllm", category, index, seed=seed, split="test")
            report = analyze(series.values)
            for name, (label, intervals) in (
                ("gradient rule", gradient_rule(series.values)),
                ("slope shift", (report.label, report.intervals)),
            ):
                right[name].append(label == series.label)
                if series.intervals:
                    f1[name].append(affiliation_prf(intervals, series.intervals, series.values.size)[2])
        rows.append(
            (
                category,
                {k: float(np.mean(v)) for k, v in right.items()},
                {k: float(np.mean(v)) if v else float("nan") for k, v in f1.items()},
            )
        )
    print(
        f"right-class rate and mean affiliation F1 (anomalous series), {n} series per category, "
        f"seed {seed}, test split:"
    )
    print(
        f"  {'category':12s} {'class before':>12s} {'class after':>12s} {'delta':>7s} "
        f"{'aff-F1 before':>14s} {'aff-F1 after':>13s}"
    )
    for category, right, f1 in rows:
        before, after = right["gradient rule"], right["slope shift"]
        print(
            f"  {category:12s} {before:12.3f} {after:12.3f} {after - before:+7.3f} "
            f"{f1['gradient rule']:14.3f} {f1['slope shift']:13.3f}"
        )
    mean_before = np.mean([r["gradient rule"] for _, r, _ in rows])
    mean_after = np.mean([r["slope shift"] for _, r, _ in rows])
    print(
        f"  {'mean':12s} {mean_before:12.3f} {mean_after:12.3f} {mean_after - mean_before:+7.3f}"
        f"   (after / before = {mean_after / mean_before:.2f}x)"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--skip-jit", action="store_true", help="skip the fresh-process JIT measurement (~2 min)")
    parser.add_argument(
        "--accuracy",
        action="store_true",
        help="only the class-accuracy comparison on --series AnomLLM series per category (~20 s)",
    )
    args = parser.parse_args(argv)
    if args.length < 64 or args.series < 1:
        parser.error("--length must be >= 64 and --series >= 1")
    if args.accuracy:
        bench_accuracy(args.series)
        return
    if not args.skip_jit:
        bench_jit(args.length)
    bench_probes(args.length, args.series)


if __name__ == "__main__":
    main()
