"""``analyze``: the detector is chosen from the data's statistics, on injected anomalies and generated series."""

from __future__ import annotations

import collections
import inspect

import numpy as np
import pytest

from verl_anomseer.expcot import DETECTOR_CLASS, analyze, probes
from verl_anomseer.expcot.selection import GLOBAL_Z, NOISE_RATIO
from verl_anomseer.series.generators import generate
from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES, CLASSES, NORMAL


def test_analyze_takes_the_series_only():
    parameters = inspect.signature(analyze).parameters
    assert list(parameters) == ["values", "spike_k", "shape_k"]  # the series and thresholds, never ground truth
    assert isinstance(parameters["spike_k"].default, float)


def test_clean_sine_is_normal(sine):
    report = analyze(sine)
    assert (report.detector, report.intervals, report.label, report.denoised) == ("none", [], NORMAL, False)


def test_white_noise_is_denoised_and_not_a_global_outlier(rng):
    report = analyze(rng.normal(0, 0.1, 1000))
    assert report.denoised
    assert report.stats["noise.ratio"] > NOISE_RATIO
    assert report.detector != "ksigma"


def test_level_shift_is_a_global_point(rng):
    x = rng.normal(0, 0.1, 1000)
    x[420:440] += 0.7
    report = analyze(x)
    assert report.detector == "ksigma" and report.label == "global point"
    assert report.stats["ksigma.max_robust_z"] > GLOBAL_Z
    assert report.intervals == probes.ksigma_intervals(x)


def test_frequency_change_is_seasonal():
    frequency = np.full(1000, 0.03)
    frequency[300:340] *= 3
    report = analyze(np.sin(2 * np.pi * np.cumsum(frequency)))
    assert (report.detector, report.label) == ("freq", "seasonal")
    assert any(s < 340 and 300 < e for s, e in report.intervals)


def test_replaced_segment_is_a_contextual_point(sine, rng):
    x = sine.copy()
    x[600:630] = rng.normal(0, 0.5, 30)
    report = analyze(x)
    assert (report.detector, report.label) == ("discord", "contextual point")


def test_slope_change_is_a_trend(sine):
    slope = np.full(1000, 0.002)
    slope[500:550] += 0.03  # the level gained persists, as in AnomLLM's trend category
    x = np.cumsum(slope) + 0.02 * sine
    report = analyze(x)
    assert (report.detector, report.label) == ("trend", "trend")
    assert report.intervals == probes.slope_shift_probe(x).intervals
    assert any(s < 550 and 500 < e for s, e in report.intervals)


def test_slope_change_under_a_strong_sine_is_a_trend():
    """AnomLLM's trend layout: the sine's own gradient is 40x the slope change, which the period average cancels."""
    t = np.arange(1000)
    slope = np.full(1000, 3.0 / 1000)
    slope[600:700] = 9.0 / 1000
    x = np.sin(2 * np.pi * 0.02 * t) + np.cumsum(slope)
    report = analyze(x)
    assert (report.detector, report.label) == ("trend", "trend")
    ((start, end),) = report.intervals
    assert abs(start - 600) <= 30 and abs(end - 700) <= 30


@pytest.mark.parametrize("category", ["trend", "flat-trend", "noisy-trend"])
def test_generated_trend_anomalies_are_recognised_as_trends(category):
    """AnomLLM trend anomalies (always in the last fifth) are called trend, except a few in the last W samples."""
    anomalous = [s for s in (generate("anomllm", category, i, seed=11) for i in range(30)) if s.intervals]
    reports = [analyze(s.values) for s in anomalous]
    assert sum(r.label == "trend" for r in reports) >= 0.65 * len(anomalous)
    for series, report in zip(anomalous, reports):
        if report.label == "trend":
            assert any(s < ge and gs < e for s, e in report.intervals for gs, ge in series.intervals)


@pytest.mark.parametrize("category", ["range", "point", "freq", "noisy-point", "noisy-freq"])
def test_generated_non_trend_series_are_never_called_trend(category):
    for index in range(20):
        series = generate("anomllm", category, index, seed=11)
        assert analyze(series.values).label != "trend", (category, index)


def test_anomaly_free_trend_series_stay_normal():
    normal = [s for s in (generate("anomllm", "trend", i, seed=11) for i in range(30)) if not s.intervals]
    assert normal and all(analyze(s.values).label == NORMAL for s in normal)


def test_stats_keys_are_the_same_for_every_detector(sine, rng):
    shifted = rng.normal(0, 0.1, 1000)
    shifted[100:120] += 0.8
    keys = {frozenset(analyze(x).stats) for x in (sine, shifted, np.zeros(100))}
    assert len(keys) == 1


def test_labels_follow_the_detector_table():
    assert set(DETECTOR_CLASS.values()) <= set(CLASSES)
    assert DETECTOR_CLASS["none"] == NORMAL


def test_generated_anomllm_series_are_mostly_classified_right():
    """Over 20 series per AnomLLM category, the data-driven choice beats the majority-class baseline."""
    hits, labels = 0, collections.Counter()
    for category in ANOMLLM_CATEGORIES:
        for index in range(20):
            series = generate("anomllm", category, index, seed=11)
            hits += analyze(series.values).label == series.label
            labels[series.label] += 1
    accuracy = hits / labels.total()
    assert accuracy > 0.6 > max(labels.values()) / labels.total()
