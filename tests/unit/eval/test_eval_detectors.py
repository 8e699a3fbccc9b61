"""Detector backends: their answers round-trip through the training parser; iforest finds an obvious shift."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verl_anomseer.eval.answer_text import canonical_answer
from verl_anomseer.eval.backends.detector import DetectorBackend, iforest_intervals
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample
from verl_anomseer.expcot import analyze, discord_intervals, ksigma_intervals
from verl_anomseer.scoring.answer import parse_answer
from verl_anomseer.series.taxonomy import CLASSES


@st.composite
def disjoint_intervals(draw, length=1000):
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=12)))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return [(s, e) for s, e in pairs if e > s]


def _separated(intervals):
    return all(b[0] > a[1] for a, b in pairwise(intervals))


@given(intervals=disjoint_intervals().filter(_separated), label=st.sampled_from(CLASSES), why=st.text(max_size=40))
def test_canonical_answer_round_trips_through_the_parser(intervals, label, why):
    parsed = parse_answer(canonical_answer(intervals, label, why.replace("<", " ")), 1000)
    assert (parsed.intervals, parsed.label, parsed.format_ok) == (intervals, label, True)


def shifted_noise(seed=0, start=400, end=440):
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 0.1, 1000)
    values[start:end] += 0.8
    return values


def test_iforest_finds_a_level_shift_and_is_seeded():
    values = shifted_noise()
    found = iforest_intervals(values, seed=1)
    flagged = np.zeros(1000, bool)
    for s, e in found:
        flagged[s:e] = True
    assert flagged[400:440].mean() > 0.8  # the shift is flagged...
    assert flagged.sum() < 0.1 * 1000  # ...and little else
    assert iforest_intervals(values, seed=1) == found


def sample(values, i=0):
    return Sample(
        series_id=f"s{i}",
        suite="anomllm",
        category="range",
        data_source="anomseer/anomllm/range",
        prompt="<image>",
        image=b"",
        values=values,
        ground_truth={"intervals": [], "label": "normal", "length": len(values)},
        extra_info={},
    )


@pytest.mark.parametrize(
    "detector, oracle",
    [
        ("ksigma", lambda v: (ksigma_intervals(v), "global point")),
        ("discord", lambda v: (discord_intervals(v), "contextual point")),
        ("iforest", lambda v: (iforest_intervals(v, seed=5), "global point")),
        ("probes", lambda v: (analyze(v).intervals, analyze(v).label)),
    ],
)
def test_detector_answer_carries_the_probe_output(detector, oracle):
    backend = DetectorBackend(detector)
    backend.check()
    series = [shifted_noise(0), np.sin(np.arange(1000) * 0.03)]
    for (_, text), values in zip(backend.generate([sample(v, i) for i, v in enumerate(series)], seed=5), series):
        intervals, label = oracle(values)
        parsed = parse_answer(text, 1000)
        assert parsed.format_ok and parsed.intervals == [tuple(i) for i in intervals]
        assert parsed.label == (label if intervals else "normal")


def test_a_series_the_detector_rejects_is_recorded_not_raised():
    backend = DetectorBackend("probes")
    backend.check()
    [(_, text)] = list(backend.generate([sample(np.array([0.0, np.nan, 1.0]))], seed=0))
    assert "probes detector failed" in text and not parse_answer(text, 3).format_ok


def test_unknown_detector_fails_in_check():
    with pytest.raises(EvalSetupError, match="choose one of"):
        DetectorBackend("prophet").check()
