"""Generators: determinism, per-category anomaly statistics, the class mapping, interval invariants."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from verl_anomseer.series.anomllm import DURATIONS
from verl_anomseer.series.generators import DEFAULT_LENGTH, Series, generate
from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals, renewal_intervals
from verl_anomseer.series.taxonomy import (
    ANOMALY_CLASSES,
    ANOMLLM_CATEGORIES,
    CATEGORY_TO_CLASS,
    NORMAL,
    SUITES,
    VTA_CATEGORIES,
)

DRAWS = 300
SEED = 20260


def _draws(suite: str, category: str, n: int = DRAWS) -> list[Series]:
    return [generate(suite, category, i, SEED) for i in range(n)]


def _assert_valid_intervals(intervals, length):
    for (_, e0), (s1, _) in itertools.pairwise(intervals):
        assert e0 < s1, f"intervals overlap or touch: {intervals}"
    for s, e in intervals:
        assert 0 <= s < e <= length


ALL = [(suite, c) for suite, cats in SUITES.items() for c in cats]


@pytest.mark.parametrize(("suite", "category"), ALL)
def test_same_key_same_series_whatever_the_order_or_global_state(suite, category):
    forward = [generate(suite, category, i, 7) for i in range(5)]
    np.random.seed(12345)  # the legacy global state must play no part
    backward = [generate(suite, category, i, 7) for i in reversed(range(5))][::-1]
    for a, b in zip(forward, backward, strict=True):
        assert a.values.tobytes() == b.values.tobytes() and a.intervals == b.intervals
    assert forward[0].values.tobytes() != forward[1].values.tobytes()
    assert generate(suite, category, 0, 8).values.tobytes() != forward[0].values.tobytes()


def test_split_is_an_independent_stream():
    train = generate("anomllm", "range", 0, 3407, split="train")
    test = generate("anomllm", "range", 0, 3407, split="test")
    assert train.values.tobytes() != test.values.tobytes()
    assert generate("anomllm", "range", 0, 3407, split="train").values.tobytes() == train.values.tobytes()


def test_range_is_reproducible_from_its_seed_in_a_fresh_process():
    """The authors' `range` data re-seeded from OS entropy; ours must not."""
    code = (
        "import hashlib; from verl_anomseer.series.generators import generate; "
        "s = generate('anomllm', 'range', 11, 3407, split='train'); "
        "print(hashlib.sha256(s.values.tobytes()).hexdigest(), s.intervals)"
    )
    out = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    local = generate("anomllm", "range", 11, 3407, split="train")
    import hashlib

    assert out[0] == out[1] == f"{hashlib.sha256(local.values.tobytes()).hexdigest()} {local.intervals}\n"


@pytest.mark.parametrize(("suite", "category"), ALL)
def test_shape_dtype_and_label(suite, category):
    for s in _draws(suite, category, 40):
        assert s.values.dtype == np.float64 and s.values.shape == (DEFAULT_LENGTH[suite],)
        assert np.isfinite(s.values).all()
        _assert_valid_intervals(s.intervals, len(s.values))
        if s.intervals:
            assert s.label == CATEGORY_TO_CLASS[category] and s.label in ANOMALY_CLASSES
        else:
            assert s.label == NORMAL


def test_every_anomllm_category_maps_to_a_valid_class():
    """The authors' release left noisy-*/flat-trend as "unknown"; every anomalous series here has a class."""
    for category in ANOMLLM_CATEGORIES:
        labels = {s.label for s in _draws("anomllm", category, 80) if s.intervals}
        assert labels and labels <= set(ANOMALY_CLASSES), (category, labels)


# Reference figures (AnomLLM's own statistics and a Monte Carlo of its samplers, in the method notes):
# intervals per anomalous series and share of anomalous points over all series.
EXPECTED = {
    "range": {"count": (1.45, 2.0), "points": (0.015, 0.05)},
    "point": {"count": (1.35, 1.9), "points": (0.02, 0.05)},
    "freq": {"count": (2.0, 2.8), "points": (0.02, 0.05)},
    "trend": {"count": (1.0, 1.0), "points": (0.025, 0.06)},
    "flat-trend": {"count": (1.0, 1.0), "points": (0.025, 0.06)},
}


@pytest.mark.parametrize("category", ANOMLLM_CATEGORIES)
def test_anomllm_statistics_over_a_few_hundred_draws(category):
    base = category.removeprefix("noisy-")
    durations = DURATIONS[base]
    series = _draws("anomllm", category)
    length = DEFAULT_LENGTH["anomllm"]
    # Share of anomaly-free series, hand-derived: the first gap max(Exp(m), g_min) reaches L, P = exp(-L/m).
    free = sum(not s.intervals for s in series)
    expected_free = math.exp(-length / durations.gap_mean)
    assert binomtest(free, DRAWS, expected_free).pvalue > 1e-3, (free / DRAWS, expected_free)
    counts = [len(s.intervals) for s in series if s.intervals]
    low, high = EXPECTED[base]["count"]
    assert low <= np.mean(counts) <= high
    if durations.max_intervals is not None:
        assert max(counts) <= durations.max_intervals
    share = sum(e - s for x in series for s, e in x.intervals) / (DRAWS * length)
    low, high = EXPECTED[base]["points"]
    assert low <= share <= high
    for s in series:
        cursor = 0
        for start, end in s.intervals:
            assert start - cursor >= durations.gap_min  # every normal stretch is at least the minimum gap
            assert end - start >= durations.duration_min or end == length  # only the last one may be cut
            cursor = end


def test_noisy_point_adds_the_documented_gaussian_noise():
    t = np.arange(DEFAULT_LENGTH["anomllm"])
    residuals = []
    for s in _draws("anomllm", "noisy-point", 60):
        normal = ~intervals_to_mask(s.intervals, len(t))
        residuals.append((s.values - np.sin(2 * np.pi * 0.03 * t))[normal])
    assert np.std(np.concatenate(residuals)) == pytest.approx(0.08, rel=0.05)


def test_trend_series_are_min_max_scaled():
    for s in _draws("anomllm", "trend", 30):
        assert s.values.min() == pytest.approx(-1.0) and s.values.max() == pytest.approx(1.0)


@pytest.mark.parametrize("category", VTA_CATEGORIES)
def test_vta_statistics(category):
    series = _draws("vta", category, 150)
    length = DEFAULT_LENGTH["vta"]
    assert all(s.intervals for s in series)  # VisualTimeAnomaly series are all anomalous
    for s in series:
        anomalous = intervals_to_mask(s.intervals, length)
        if category in ("global", "contextual"):
            assert anomalous.sum() == round(0.05 * length)
        else:
            assert 1 <= len(s.intervals) <= 2 and 10 <= anomalous.sum() <= 20
        assert np.abs(s.values).max() <= 0.95 + 1e-12
        normal = s.values[~anomalous]
        if category == "global":  # beyond the normal range
            assert np.abs(s.values[anomalous]).min() > np.abs(normal).max()
        if category == "contextual":  # inside the normal range
            assert normal.min() - 0.05 <= s.values[anomalous].min() and s.values[anomalous].max() <= normal.max() + 0.05


@pytest.mark.parametrize(
    ("suite", "category", "index", "seed", "length", "match"),
    [
        ("nope", "range", 0, 0, None, "unknown suite"),
        ("anomllm", "shapelet", 0, 0, None, "unknown category"),
        ("anomllm", "range", -1, 0, None, "non-negative"),
        ("anomllm", "range", 0, -5, None, "non-negative"),
        ("vta", "global", 0, 0, 5, "at least"),
    ],
)
def test_bad_arguments_raise_clear_errors(suite, category, index, seed, length, match):
    with pytest.raises(ValueError, match=match):
        generate(suite, category, index, seed, length)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ALL),
    st.integers(0, 2**32 - 1),
    st.integers(0, 10**6),
    st.integers(20, 1500),
)
def test_any_key_and_length_gives_a_valid_series(suite_category, seed, index, length):
    suite, category = suite_category
    s = generate(suite, category, index, seed, length)
    assert s.values.shape == (length,) and np.isfinite(s.values).all()
    _assert_valid_intervals(s.intervals, length)
    assert (s.label == NORMAL) == (not s.intervals)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 3000),
    st.floats(0.5, 2000),
    st.floats(1, 500),
    st.floats(0.5, 300),
    st.floats(1, 100),
    st.one_of(st.none(), st.integers(1, 10)),
    st.integers(0, 2**32 - 1),
)
def test_renewal_intervals_are_sorted_disjoint_and_in_range(length, gap_mean, gap_min, dur_mean, dur_min, cap, seed):
    intervals = renewal_intervals(np.random.default_rng(seed), length, gap_mean, gap_min, dur_mean, dur_min, cap)
    _assert_valid_intervals(intervals, length)
    assert cap is None or len(intervals) <= cap
    assert mask_to_intervals(intervals_to_mask(intervals, length)) == intervals


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=200))
def test_mask_round_trip(bits):
    mask = np.array(bits, dtype=bool)
    intervals = mask_to_intervals(mask)
    assert np.array_equal(intervals_to_mask(intervals, len(mask)), mask)
    _assert_valid_intervals(intervals, len(mask))
