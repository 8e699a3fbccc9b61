"""The isolated-point probe and its place in the clean analysis: hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from verl_anomseer.expcot import analyze, clean_trace, spike_probe


def _sine(n=400, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return 0.5 * np.sin(2 * np.pi * 0.04 * np.arange(n)) + rng.normal(0, noise, n)


def test_one_spike_beyond_the_range_is_a_global_point():
    x = _sine()
    x[123] = 0.9  # the sine stays within +-0.53
    found = spike_probe(x)
    assert found.intervals == [(123, 124)] and found.stats["n_outside"] == 1
    report = analyze(x)
    assert (report.detector, report.intervals, report.label) == ("spike", [(123, 124)], "global point")
    assert "the isolated samples are [[123, 124]]" in clean_trace(x)


def test_points_that_break_the_local_pattern_inside_the_range_are_contextual():
    x = _sine()
    for p in (60, 190, 330):  # a peak's neighbour pushed to the trough level: in range, out of context
        x[p] = -x[p]
    report = analyze(x)
    assert report.detector == "spike" and report.label == "contextual point"
    assert [s for s, _ in report.intervals] == [60, 190, 330]


def test_gaussian_noise_and_a_clean_sine_flag_nothing():
    rng = np.random.default_rng(1)
    assert spike_probe(rng.normal(0, 1, 5000)).intervals == []
    assert spike_probe(np.sin(np.arange(1000) / 3)).intervals == []


def test_threshold_is_validated():
    with pytest.raises(ValueError, match="k must be > 0"):
        spike_probe(_sine(), k=0)
