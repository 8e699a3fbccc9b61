"""Persistent numba JIT cache for stumpy: pay its ~45 s compile once per machine, not once per process.

stumpy compiles its ``@njit`` kernels on first use in every new process. ``enable()`` turns on numba's
on-disk cache for each of those kernels (the list stumpy itself keeps, ``stumpy.cache.get_njit_funcs``),
so the first process writes the compiled code and later processes load it. Numba stores the cache next
to stumpy's sources, or under ``NUMBA_CACHE_DIR`` when that is set, and writes each file atomically, so
concurrent worker processes are safe. Call ``enable()`` once per process before the first stumpy call;
repeated calls are no-ops.
"""

from __future__ import annotations

import importlib
import threading

_lock = threading.Lock()
_enabled = False


def enable() -> None:
    """Turn on numba's persistent cache for every stumpy ``@njit`` kernel (idempotent, thread-safe)."""
    global _enabled
    with _lock:
        if _enabled:
            return
        import numba
        from stumpy import cache

        if not numba.config.DISABLE_JIT:
            for module_name, func_name in cache.get_njit_funcs():
                module = importlib.import_module(f"stumpy.{module_name}")
                getattr(module, func_name).enable_caching()
        _enabled = True


def is_enabled() -> bool:
    """Whether ``enable()`` has run in this process."""
    return _enabled
