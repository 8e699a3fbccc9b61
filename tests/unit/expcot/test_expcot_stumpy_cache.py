"""``stumpy_cache.enable()``: numba's on-disk cache on every stumpy kernel, shared across processes."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import subprocess
import sys

import numpy as np
from numba.core.caching import NullCache
from stumpy import cache

from verl_anomseer.expcot import clean_trace, stumpy_cache

# A cheap real stumpy kernel (no parallel loops): compiles in about a second.
_KERNEL_RUN = """
import importlib, numpy as np
from verl_anomseer.expcot import stumpy_cache
stumpy_cache.enable()
kernel = importlib.import_module("stumpy.core")._sliding_dot_product
kernel(np.ones(8), np.arange(64.0))
print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
"""


def test_enable_turns_on_caching_for_every_stumpy_kernel():
    stumpy_cache.enable()
    stumpy_cache.enable()  # idempotent
    assert stumpy_cache.is_enabled()
    kernels = [getattr(importlib.import_module(f"stumpy.{mod}"), name) for mod, name in cache.get_njit_funcs()]
    assert kernels and all(not isinstance(kernel._cache, NullCache) for kernel in kernels)


def test_second_process_loads_what_the_first_compiled(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [
        subprocess.run([sys.executable, "-c", _KERNEL_RUN], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (tuple(map(int, run.stdout.split())) for run in runs)
    assert first == (0, 1)  # cold: compiled and written
    assert second == (1, 0)  # warm: loaded, nothing compiled
    assert list(tmp_path.rglob("*.nbi")) and list(tmp_path.rglob("*.nbc"))


def _series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.sin(2 * np.pi * 0.03 * np.arange(1000))
    x[400:430] = rng.normal(0, 0.5, 30)
    return x


def test_traces_in_spawned_workers_match_the_parent():
    """A builder's spawned workers (each enabling the cache) write byte-identical traces to the parent's."""
    series = [_series(seed) for seed in range(4)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        in_workers = pool.map(clean_trace, series)
    assert in_workers == [clean_trace(x) for x in series]
    assert all("Decisive evidence (discord)" in trace for trace in in_workers)
