"""Benchmark the ExpCoT probes.

1. stumpy's per-process first-call cost (JIT), each in a fresh process with a private numba cache dir:
   without the cache, with ``stumpy_cache.enable()`` on a cold cache (compiles and writes), and on a warm cache.
   Ratios are against the warm-cache call.
2. Per-series cost of ``analyze`` (all probes), ``clean_trace`` and each probe, as ratios against rendering
   the same series with ``series.render.render_png`` (the builder's other per-row cost), in one process.

Usage: python benchmarks/expcot_probes.py [--length 1000] [--series 40] [--skip-jit]
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
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(enable=enable, length=length)], env=env,
                         check=True, capture_output=True, text=True).stdout.split()
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
        "freq_probe": _per_call(probes.freq_probe, batch),
        "discord_probe": _per_call(probes.discord_probe, batch),
    }
    print(f"per-series cost, L={length}, {n} series:")
    for name, sec in rows.items():
        print(f"  {name:24s}{sec * 1e3:8.2f} ms   {sec / render:6.2f}x render")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--skip-jit", action="store_true", help="skip the fresh-process JIT measurement (~2 min)")
    args = parser.parse_args(argv)
    if args.length < 64 or args.series < 1:
        parser.error("--length must be >= 64 and --series >= 1")
    if not args.skip_jit:
        bench_jit(args.length)
    bench_probes(args.length, args.series)


if __name__ == "__main__":
    main()
