"""Classical detectors as a backend: intervals + a class, written as the canonical answer text.

- ``probes``: the clean ExpCoT analysis (:func:`verl_anomseer.expcot.analyze`), which picks a probe and a class
  from the data alone.
- ``discord``: the stumpy matrix-profile discord probe (m = 50, z > 3.5); class ``contextual point``.
- ``ksigma``: points outside mean ± 3·std; class ``global point``.
- ``iforest``: scikit-learn IsolationForest on sliding windows of ``IFOREST_WINDOW`` values
  (``contamination = IFOREST_CONTAMINATION`` of the windows, ``random_state`` = the run seed); the union of the
  flagged windows gives the intervals; class ``global point``.
A single-probe detector that finds nothing answers ``[]`` / ``normal``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.ensemble import IsolationForest

from verl_anomseer.eval.answer_text import canonical_answer
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample
from verl_anomseer.expcot import DETECTOR_CLASS
from verl_anomseer.parallel import ordered_map
from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals
from verl_anomseer.series.taxonomy import NORMAL

IFOREST_WINDOW = 10
IFOREST_CONTAMINATION = 0.03
SINGLE_PROBE_CLASS = {
    "discord": DETECTOR_CLASS["discord"],
    "ksigma": DETECTOR_CLASS["ksigma"],
    "iforest": DETECTOR_CLASS["ksigma"],
}  # iforest flags amplitude outliers, like k-sigma


def iforest_intervals(
    values: np.ndarray, seed: int = 0, window: int = IFOREST_WINDOW, contamination: float = IFOREST_CONTAMINATION
) -> list[tuple[int, int]]:
    """Union of the windows IsolationForest flags as outliers among all length-``window`` windows."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 * window:
        return []
    windows = sliding_window_view(values, window)
    flagged = IsolationForest(contamination=contamination, random_state=seed).fit_predict(windows) == -1
    starts = np.flatnonzero(flagged)
    return mask_to_intervals(intervals_to_mask([(int(s), int(s) + window) for s in starts], len(values)))


def detector_findings(detector: str, seed: int, values: np.ndarray) -> tuple[list[tuple[int, int]], str, str]:
    """``(intervals, class, reasoning)`` of ``detector`` on a 1-D series; raises ``ValueError`` on a bad series."""
    from verl_anomseer import expcot

    if detector == "probes":
        report = expcot.analyze(values)
        stats = ", ".join(f"{k}={v:.4g}" for k, v in sorted(report.stats.items()))
        return (
            report.intervals,
            report.label,
            f"probe {report.detector}{' (denoised)' if report.denoised else ''}: {stats}",
        )
    if detector == "iforest":
        intervals = iforest_intervals(values, seed=seed)
    else:
        intervals = {"discord": expcot.discord_intervals, "ksigma": expcot.ksigma_intervals}[detector](values)
    label = SINGLE_PROBE_CLASS[detector] if intervals else NORMAL
    return intervals, label, f"{detector} detector: {len(intervals)} interval(s)"


def detector_answer(detector: str, seed: int, values: np.ndarray) -> str:
    """The canonical answer text of ``detector`` on ``values``; a series it rejects gives a think-only text.

    ``values`` of shape ``(channels, rows)``: the detector runs on each channel; the answer is the union of their
    intervals, with the class of the channel whose intervals cover the most rows.
    """
    try:
        if values.ndim == 1:
            return canonical_answer(*detector_findings(detector, seed, values))
        found = [detector_findings(detector, seed, row) for row in values]
    except ValueError as exc:  # recorded (and scored) as an unreadable answer, never dropped
        return f"<think>{detector} detector failed: {exc}</think>"
    masks = [intervals_to_mask(intervals, values.shape[1]) for intervals, _, _ in found]
    label = found[int(np.argmax([m.sum() for m in masks]))][1]
    why = "; ".join(f"channel {k + 1}: {reason}" for k, (_, _, reason) in enumerate(found))
    return canonical_answer(mask_to_intervals(np.logical_or.reduce(masks)), label, why)


def _init_worker() -> None:
    """Per worker process: stumpy's persistent JIT cache and one numba thread (the pool is the parallelism)."""
    import numba

    from verl_anomseer.expcot import stumpy_cache

    stumpy_cache.enable()
    numba.set_num_threads(1)


class DetectorBackend:
    """A classical detector answering in the model's format; deterministic except ``iforest`` (seeded).

    ``workers > 1`` runs the detector in that many spawned processes, ``ray_address`` as Ray tasks on that
    cluster (``verl_anomseer.parallel.ordered_map``); the answers are identical and in order either way.
    """

    def __init__(self, detector: str | None, workers: int = 1, ray_address: str | None = None):
        self.detector, self.workers, self.ray_address = detector, workers, ray_address
        self.settings = {"backend": "detector", "detector": detector}
        if detector == "iforest":
            self.settings |= {"window": IFOREST_WINDOW, "contamination": IFOREST_CONTAMINATION}

    def check(self) -> None:
        from verl_anomseer.eval.backends import DETECTORS

        if self.detector not in DETECTORS:
            raise EvalSetupError(f"--detector {self.detector!r}: choose one of {', '.join(DETECTORS)}")
        if self.detector in ("probes", "discord"):
            from verl_anomseer.expcot import stumpy_cache

            stumpy_cache.enable()

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]:
        answer = partial(detector_answer, self.detector, seed)
        values = [s.values for s in samples]
        yield from zip(samples, ordered_map(answer, values, self.workers, self.ray_address, _init_worker, max_chunk=16))
