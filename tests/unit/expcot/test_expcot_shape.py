"""The window-shape probe and its place in the clean analysis: hand-built cases with a known anomalous window.

Expectation, derived by hand: every length-m subsequence (m = the 25-sample period) through a sample inside a
changed window contains part of the change, so that sample scores high; a sample outside it has one subsequence
through it that ends before (or starts after) the change and repeats elsewhere, so it scores low. The flagged
samples therefore lie inside the changed window (one sample of slack for the noise).
"""

from __future__ import annotations

import numpy as np
import pytest

from verl_anomseer.expcot import analyze, clean_trace, probes, shape_probe

PERIOD = 25


def _sine(n=400, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return 0.5 * np.sin(2 * np.pi * np.arange(n) / PERIOD) + rng.normal(0, noise, n)


def _inside(intervals, start: int, end: int) -> bool:
    return bool(intervals) and all(start - 1 <= s and e <= end + 1 for s, e in intervals)


@pytest.mark.parametrize("seed", range(3))
def test_a_window_at_three_times_the_frequency_is_localised(seed):
    x = _sine(seed=seed)
    t = np.arange(150, 160)
    x[150:160] = 0.5 * np.sin(2 * np.pi * 3 * t / PERIOD)
    found = shape_probe(x)
    assert found.stats["m"] == PERIOD
    assert _inside(found.intervals, 150, 160) and found.stats["max_z"] > probes.SHAPE_K


@pytest.mark.parametrize("seed", range(3))
def test_a_stuck_stretch_is_a_shapelet_found_by_the_analysis(seed):
    x = _sine(seed=seed)
    x[200:215] = x[200]  # the sensor holds one value for 15 samples: flat, so no isolated point either
    report = analyze(x)
    assert (report.detector, report.label) == ("shape", "shapelet")
    assert _inside(report.intervals, 200, 215) and any(s <= 207 < e for s, e in report.intervals)
    trace = clean_trace(x)
    assert f"one dominant period ({PERIOD} samples)" in trace
    assert f"{report.stats['shape.max_z']:.4f} std above the median" in trace
    assert "Decisive evidence (shape)" in trace and "as a shapelet anomaly" in trace


@pytest.mark.parametrize("seed", range(3))
def test_a_clean_sine_flags_nothing(seed):
    assert shape_probe(_sine(seed=seed)).intervals == []


def test_isolated_points_stay_with_the_spike_step():
    x = _sine()
    x[123] = 0.9  # one sample: every window through it is unusual, but it is a point, not a shape
    assert analyze(x).detector == "spike"


def test_the_window_is_one_period_within_bounds():
    assert probes.shape_window(_sine()) == PERIOD
    assert probes.shape_window(np.sin(2 * np.pi * np.arange(400) / 3)) == probes.SHAPE_MIN_M
    assert probes.shape_window(np.zeros(400)) == 100


def test_threshold_is_validated():
    with pytest.raises(ValueError, match="k must be > 0"):
        shape_probe(_sine(), k=0)
