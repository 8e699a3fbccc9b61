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

from collections.abc import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.ensemble import IsolationForest

from verl_anomseer.eval.answer_text import canonical_answer
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample
from verl_anomseer.expcot import DETECTOR_CLASS
from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals
from verl_anomseer.series.taxonomy import NORMAL

IFOREST_WINDOW = 10
IFOREST_CONTAMINATION = 0.03
SINGLE_PROBE_CLASS = {"discord": DETECTOR_CLASS["discord"], "ksigma": DETECTOR_CLASS["ksigma"],
                      "iforest": DETECTOR_CLASS["ksigma"]}  # iforest flags amplitude outliers, like k-sigma


def iforest_intervals(values: np.ndarray, seed: int = 0, window: int = IFOREST_WINDOW,
                      contamination: float = IFOREST_CONTAMINATION) -> list[tuple[int, int]]:
    """Union of the windows IsolationForest flags as outliers among all length-``window`` windows."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 * window:
        return []
    windows = sliding_window_view(values, window)
    flagged = IsolationForest(contamination=contamination, random_state=seed).fit_predict(windows) == -1
    starts = np.flatnonzero(flagged)
    return mask_to_intervals(intervals_to_mask([(int(s), int(s) + window) for s in starts], len(values)))


class DetectorBackend:
    """A classical detector answering in the model's format; deterministic except ``iforest`` (seeded)."""

    def __init__(self, detector: str | None):
        self.detector = detector
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
        answer = self._answerer(seed)
        for sample in samples:
            try:
                yield sample, answer(sample.values)
            except ValueError as exc:  # a series the detector rejects: recorded as an unreadable answer
                yield sample, f"<think>{self.detector} detector failed: {exc}</think>"

    def _answerer(self, seed: int) -> Callable[[np.ndarray], str]:
        from verl_anomseer import expcot

        if self.detector == "probes":
            def probes(values: np.ndarray) -> str:
                report = expcot.analyze(values)
                stats = ", ".join(f"{k}={v:.4g}" for k, v in sorted(report.stats.items()))
                why = f"probe {report.detector}{' (denoised)' if report.denoised else ''}: {stats}"
                return canonical_answer(report.intervals, report.label, why)

            return probes
        find = {
            "discord": expcot.discord_intervals,
            "ksigma": expcot.ksigma_intervals,
            "iforest": lambda values: iforest_intervals(values, seed=seed),
        }[self.detector]

        def single(values: np.ndarray) -> str:
            intervals = find(values)
            label = SINGLE_PROBE_CLASS[self.detector] if intervals else NORMAL
            return canonical_answer(intervals, label, f"{self.detector} detector: {len(intervals)} interval(s)")

        return single
