"""One ordered parallel map for the builder and the detectors: in this process, a spawned pool, or Ray tasks.

``ordered_map(fn, items, workers, ray_address)`` yields ``fn(item)`` for every item **in input order**, so the
output is the same whichever way it ran. ``fn`` must be picklable (a module-level function or a
``functools.partial`` of one) and ``initializer`` runs once per worker process (pool or Ray) before its first item;
the in-process path leaves set-up to the caller.

- ``ray_address`` set: one Ray task per item (1 CPU each), at most ``RAY_IN_FLIGHT`` per cluster CPU submitted
  ahead of the one being collected. ``"local"`` starts a Ray cluster on this machine for the call; any other
  address (``auto``, ``HOST:PORT``, ``ray://...``) joins an existing cluster, whose nodes need this package
  installed. A driver that already called ``ray.init`` keeps its cluster. Ray is imported only here.
- else ``workers > 1``: a ``spawn`` pool of that many processes; else in this process.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

RAY_IN_FLIGHT = 4

_initialized: set[Callable] = set()


def _ray_call(fn: Callable, initializer: Callable | None, item):
    """In a Ray worker process: ``initializer`` once, then ``fn(item)``."""
    if initializer is not None and initializer not in _initialized:
        initializer()
        _initialized.add(initializer)
    return fn(item)


def _ray_map(fn: Callable, items: Iterable, initializer: Callable | None, address: str) -> Iterator:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_ray_call)
        limit = RAY_IN_FLIGHT * max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending: deque = deque()
        for item in items:
            pending.append(task.remote(fn, initializer, item))
            if len(pending) >= limit:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        if started:
            ray.shutdown()


def ordered_map(
    fn: Callable,
    items: Sequence,
    workers: int = 1,
    ray_address: str | None = None,
    initializer: Callable | None = None,
    max_chunk: int = 32,
) -> Iterator:
    """``fn(item)`` for each of ``items``, in order (module docstring)."""
    if ray_address:
        yield from _ray_map(fn, items, initializer, ray_address)
        return
    if workers == 1 or len(items) < 2:
        yield from map(fn, items)
        return
    chunksize = max(1, min(max_chunk, len(items) // (workers * 8)))
    with multiprocessing.get_context("spawn").Pool(workers, initializer=initializer) as pool:
        yield from pool.imap(fn, items, chunksize=chunksize)
