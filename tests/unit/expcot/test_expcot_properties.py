"""Property tests: any finite series of at least MIN_LENGTH points gives valid intervals and finite statistics."""

from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from verl_anomseer.expcot import (
    DETECTOR_CLASS,
    MIN_LENGTH,
    analyze,
    clean_trace,
    discord_probe,
    faithful_trace,
    freq_probe,
    ksigma_probe,
    shape_probe,
    slope_shift_probe,
    spike_class,
    spike_probe,
    trend_probe,
)
from verl_anomseer.series.taxonomy import CLASSES, NORMAL

lengths = st.integers(MIN_LENGTH, 400)
finite = st.floats(-1e308, 1e308, allow_nan=False, allow_infinity=False)


@st.composite
def series(draw) -> np.ndarray:
    """Random, constant, huge-scale, tiny-variance and spiky series."""
    n = draw(lengths)
    kind = draw(st.sampled_from(["random", "constant", "scaled", "tiny", "spiky"]))
    if kind == "random":
        return draw(arrays(np.float64, n, elements=finite))
    if kind == "constant":
        return np.full(n, draw(finite))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = np.sin(2 * np.pi * draw(st.floats(0.001, 0.5)) * np.arange(n)) + rng.normal(0, draw(st.floats(0, 1)), n)
    if kind == "scaled":
        return base * 10.0 ** draw(st.integers(-300, 307))
    if kind == "tiny":
        return draw(st.floats(-1e6, 1e6)) + base * 10.0 ** draw(st.integers(-18, -6))
    spikes = rng.choice(n, size=draw(st.integers(1, 5)), replace=False)
    base[spikes] += draw(st.floats(-1e3, 1e3))
    return base


def _valid(intervals, length: int) -> bool:
    ends = [0] + [e for _, e in intervals]
    return all(
        isinstance(s, int) and isinstance(e, int) and ends[i] <= s < e <= length for i, (s, e) in enumerate(intervals)
    )


@given(series())
def test_analyze_gives_valid_intervals_and_finite_stats(x):
    report = analyze(x)
    assert _valid(report.intervals, x.size)
    expected = spike_class(report.stats, "spike.") if report.detector == "spike" else DETECTOR_CLASS[report.detector]
    assert report.label in CLASSES and report.label == expected
    assert (report.label == NORMAL) == (not report.intervals)
    assert all(isinstance(v, float) and math.isfinite(v) for v in report.stats.values())
    assert not re.search(r"\b(nan|inf)\b", clean_trace(x).lower())


@given(series())
def test_every_probe_gives_valid_intervals_and_finite_stats(x):
    for probe in (ksigma_probe, trend_probe, freq_probe, discord_probe, slope_shift_probe, shape_probe, spike_probe):
        result = probe(x)
        assert _valid(result.intervals, x.size), probe.__name__
        assert all(math.isfinite(v) for v in result.stats.values()), probe.__name__


@given(series(), st.data())
def test_faithful_trace_quotes_any_valid_ground_truth(x, data):
    cuts = sorted(data.draw(st.sets(st.integers(0, x.size), min_size=0, max_size=6)))
    intervals = [(s, e) for s, e in zip(cuts[::2], cuts[1::2])]
    label = data.draw(st.sampled_from(CLASSES[:-1])) if intervals else NORMAL
    category = data.draw(st.sampled_from(["range", "noisy-point", "freq", "trend", "seasonal", "shapelet"]))
    trace = faithful_trace(x, category, intervals, label)
    assert ("[" + ", ".join(f"[{s}, {e}]" for s, e in intervals) + "]") in trace
    assert not re.search(r"\b(nan|inf)\b", trace.lower())
