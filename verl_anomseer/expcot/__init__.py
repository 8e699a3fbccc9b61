"""ExpCoT: classical probes over a time series and the expert-trace writer (no verl imports).

Public API: ``analyze(values) -> ProbeReport`` (the data-driven detector choice), ``clean_trace(values)``
(no ground truth), ``faithful_trace(values, category, intervals, label)`` (the authors' trace), the single
probes ``ksigma_intervals``, ``discord_intervals``, ``trend_intervals``, ``freq_intervals``, ``MIN_LENGTH``,
``slope_shift_probe`` (the clean mode's trend test), ``shape_probe`` (its window-shape test) and
``stumpy_cache.enable()``.
"""

from verl_anomseer.expcot import stumpy_cache
from verl_anomseer.expcot.probes import (
    MIN_LENGTH,
    ProbeResult,
    denoise,
    discord_intervals,
    discord_probe,
    freq_intervals,
    freq_probe,
    ksigma_intervals,
    ksigma_probe,
    noise_ratio,
    shape_probe,
    slope_shift_probe,
    spike_probe,
    trend_intervals,
    trend_probe,
)
from verl_anomseer.expcot.selection import DETECTOR_CLASS, ProbeReport, analyze, spike_class
from verl_anomseer.expcot.trace import clean_trace, faithful_trace, render_clean

__all__ = [
    "DETECTOR_CLASS",
    "MIN_LENGTH",
    "ProbeReport",
    "ProbeResult",
    "analyze",
    "clean_trace",
    "denoise",
    "discord_intervals",
    "discord_probe",
    "faithful_trace",
    "freq_intervals",
    "freq_probe",
    "ksigma_intervals",
    "ksigma_probe",
    "noise_ratio",
    "render_clean",
    "shape_probe",
    "slope_shift_probe",
    "spike_class",
    "spike_probe",
    "stumpy_cache",
    "trend_intervals",
    "trend_probe",
]
