"""The trace writer: the clean mode states only what the probes found; the faithful mode states the ground truth."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from verl_anomseer.expcot import analyze, clean_trace, faithful_trace
from verl_anomseer.series.generators import generate
from verl_anomseer.series.taxonomy import CLASSES, NORMAL, SUITES

HEADINGS = (r"\textbf{Observation} — ", r"\textbf{Reasoning \& Validation} — ", r"\textbf{Conclusion} — ")
GENERATED = [
    (suite, category, index) for suite, categories in SUITES.items() for category in categories for index in range(8)
]


def _span(start: int, end: int) -> str:
    return f"[{start}, {end}]"


def _sections(trace: str) -> list[str]:
    lines = trace.split("\n")
    assert len(lines) == 3 and all(line.startswith(head) for line, head in zip(lines, HEADINGS))
    return lines


def _class_words(text: str) -> set[str]:
    return {c for c in CLASSES if re.search(rf"\b{c}\b", text)}


def test_clean_trace_receives_no_ground_truth():
    assert list(inspect.signature(clean_trace).parameters) == ["values"]


@pytest.mark.parametrize(("suite", "category", "index"), GENERATED)
def test_clean_trace_states_only_what_the_probes_found(suite, category, index):
    series = generate(suite, category, index, seed=5)
    trace, report = clean_trace(series.values), analyze(series.values)
    observation, reasoning, conclusion = _sections(trace)
    assert _class_words(trace) == {report.label}  # exactly one class is named: the probes' conclusion
    assert _span(0, 0) not in trace and "ground truth" not in trace.lower() and " GT " not in trace
    if series.label != report.label:
        assert series.label not in trace
    for start, end in series.intervals:
        if (start, end) not in report.intervals:
            assert _span(start, end) not in trace
    assert all(_span(s, e) in conclusion for s, e in report.intervals)
    assert (f"Decisive evidence ({report.detector})" in reasoning) == (report.detector != "none")
    assert ("[Preprocess]" in observation) == report.denoised
    assert not re.search(r"\b(nan|inf)\b", trace.lower())


def test_clean_trace_is_deterministic(sine):
    assert clean_trace(sine) == clean_trace(sine.copy())


def test_clean_trace_quotes_concrete_numbers(sine, rng):
    x = sine.copy()
    x[600:630] = rng.normal(0, 0.5, 30)
    trace, report = clean_trace(x), analyze(x)
    assert report.detector == "discord"
    assert f"index {int(report.stats['discord.discord_index'])}" in trace
    assert f"{report.stats['discord.discord_z']:.4f}" in trace
    assert f"{report.stats['ksigma.mean']:.4f}" in trace
    assert "33.3333" in trace  # the sine's dominant period


def test_clean_trace_of_a_normal_series_concludes_normal(sine):
    conclusion = _sections(clean_trace(sine))[2]
    assert "[]" in conclusion and NORMAL in conclusion


@pytest.mark.parametrize(("suite", "category", "index"), GENERATED)
def test_faithful_trace_states_the_ground_truth(suite, category, index):
    series = generate(suite, category, index, seed=5)
    trace = faithful_trace(series.values, category, series.intervals, series.label)
    observation, reasoning, conclusion = _sections(trace)
    assert rf"\textit{{{series.label}}}" in observation
    gt = "[" + ", ".join(_span(s, e) for s, e in series.intervals) + "]"
    if series.intervals:
        assert gt in observation and gt in reasoning and gt in conclusion
        assert f"a {series.label} anomaly" in reasoning
    else:
        assert "No ground-truth anomalies" in observation and "[]" in conclusion
    assert ("[Preprocess]" in observation) == category.startswith("noisy-")
    assert "For reference, the detector proposed" in conclusion


@pytest.mark.parametrize(
    ("category", "detector"),
    [
        ("trend", "trend"),
        ("noisy-trend", "trend"),
        ("flat-trend", "trend"),
        ("freq", "freq"),
        ("noisy-freq", "freq"),
        ("seasonal", "freq"),
        ("point", "discord"),
        ("shapelet", "discord"),
    ],
)
def test_faithful_detector_follows_the_category_name(sine, category, detector):
    label = "contextual point" if detector == "discord" else {"trend": "trend", "freq": "seasonal"}[detector]
    trace = faithful_trace(sine, category, [(10, 20)], label if category != "shapelet" else "shapelet")
    assert f"Detector evidence ({detector})" in trace


def test_faithful_global_scan_overrides_the_category(sine):
    x = sine.copy()
    x[500] = 8.0  # z far above 5
    assert "Detector evidence (ksigma)" in faithful_trace(x, "trend", [(500, 501)], "trend")


@pytest.mark.parametrize(
    ("category", "intervals", "label", "message"),
    [
        ("nope", [(1, 2)], "trend", "unknown category"),
        ("trend", [(1, 2)], "sideways", "unknown label"),
        ("trend", [(5, 9), (1, 2)], "trend", "sorted, disjoint"),
        ("trend", [(5, 5)], "trend", "sorted, disjoint"),
        ("trend", [(990, 1001)], "trend", "within"),
        ("trend", [(1, 2)], NORMAL, "does not fit"),
        ("trend", [], "trend", "does not fit"),
    ],
)
def test_faithful_trace_rejects_inconsistent_ground_truth(sine, category, intervals, label, message):
    with pytest.raises(ValueError, match=message):
        faithful_trace(sine, category, intervals, label)


def test_traces_reject_short_series():
    with pytest.raises(ValueError, match="MIN_LENGTH"):
        clean_trace(np.zeros(10))
    with pytest.raises(ValueError, match="MIN_LENGTH"):
        faithful_trace(np.zeros(10), "point", [], NORMAL)
