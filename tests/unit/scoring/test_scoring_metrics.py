"""Point and affiliation metrics against independent oracles: scikit-learn, hand-derived integrals, and the
affiliation authors' reference ``pr_from_events`` (as shipped in the ``tsadmetrics`` package)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_fscore_support

from verl_anomseer.scoring.intervals import as_events, merge_intervals
from verl_anomseer.scoring.metrics import affiliation_prf, point_prf
from verl_anomseer.series.intervals import intervals_to_mask as to_mask


def random_events(rng: np.random.Generator, length: int, max_events: int, min_events: int = 0) -> np.ndarray:
    k = int(rng.integers(min_events, max_events + 1))
    cuts = np.sort(rng.choice(length + 1, size=min(2 * k, length + 1 - (length + 1) % 2), replace=False))
    return as_events(cuts[: len(cuts) // 2 * 2].reshape(-1, 2), length)


@st.composite
def interval_lists(draw, length: int):
    pairs = draw(st.lists(st.tuples(st.integers(0, length), st.integers(0, length)), max_size=8))
    return [(min(a, b), max(a, b)) for a, b in pairs if a != b]


# ---------------------------------------------------------------------------------------- intervals


def test_merge_and_mask_match_a_point_set():
    events = as_events([[30, 40], [0, 5], [4, 10], [10, 12], [50, 2000], [-4, -1]], 60)
    assert events.tolist() == [[0, 12], [30, 40], [50, 60]]
    mask = to_mask(events, 60)
    assert mask.sum() == 12 + 10 + 10 and mask[11] and not mask[12] and mask[59]
    assert merge_intervals(np.array([], np.int64), np.array([], np.int64)).shape == (0, 2)


# ---------------------------------------------------------------------------------------- point-wise


def test_point_metrics_agree_with_sklearn_on_random_cases():
    rng = np.random.default_rng(7)
    for _ in range(500):
        length = int(rng.integers(2, 400))
        pred, gt = random_events(rng, length, 6), random_events(rng, length, 4)
        if len(pred) == 0 or len(gt) == 0:
            continue  # the edge rules, tested below, deliberately differ from sklearn there
        expected = precision_recall_fscore_support(
            to_mask(gt, length), to_mask(pred, length), average="binary", zero_division=0
        )[:3]
        np.testing.assert_allclose(point_prf(pred, gt, length), expected, rtol=0, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_point_metrics_agree_with_sklearn_property(data):
    length = data.draw(st.integers(1, 300))
    pred, gt = data.draw(interval_lists(length)), data.draw(interval_lists(length))
    y_pred, y_true = np.zeros(length, bool), np.zeros(length, bool)
    for s, e in pred:
        y_pred[s:e] = True
    for s, e in gt:
        y_true[s:e] = True
    got = point_prf(pred, gt, length)
    if not y_pred.any() and not y_true.any():
        assert got == (1.0, 1.0, 1.0)
    elif not y_pred.any() or not y_true.any():
        assert got == (0.0, 0.0, 0.0)
    else:
        expected = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)[:3]
        np.testing.assert_allclose(got, expected, atol=1e-12)


# ---------------------------------------------------------------------------------------- edge rules


@pytest.mark.parametrize("metric", [point_prf, affiliation_prf])
def test_edge_rules(metric):
    assert metric([], [], 100) == (1.0, 1.0, 1.0)
    assert metric([[3, 9]], [], 100) == (0.0, 0.0, 0.0)
    assert metric([], [[3, 9]], 100) == (0.0, 0.0, 0.0)
    assert metric([[3, 9], [20, 30]], [[20, 30], [3, 9]], 100) == (1.0, 1.0, 1.0)


# ---------------------------------------------------------------------------------------- affiliation


def test_affiliation_hand_derived_single_zone():
    # E = [0, 10], J = [4, 6], pred [0, 2].
    # Precision: ∫_0^2 F(4 - x) dx / 2 with F(d) = 2 (4 - d) / 10  ->  (1/10) [8d - d^2]_2^4 / 2 = 0.4 / 2 = 0.2
    # Recall:    ∫_4^6 F_y(y - 2) dy / 2 with F_y(d) = (2 + 12 - 2y) / 10  ->  (1/10) [14y - y^2]_4^6 / 2 = 0.4
    p, r, f1 = affiliation_prf([[0, 2]], [[4, 6]], 10)
    assert p == pytest.approx(0.2, abs=1e-12)
    assert r == pytest.approx(0.4, abs=1e-12)
    assert f1 == pytest.approx(2 * 0.2 * 0.4 / 0.6, abs=1e-12)


def test_affiliation_hand_derived_disjoint_far():
    # E = [0, 1000], J = [0, 10], pred [990, 1000] at the far end.
    # Precision: d = x - 10 in [980, 990], F(d) = (990 - d) / 1000  ->  (10^2 / 2) / 1000 / 10 = 0.005
    # Recall: y in [0, 10], d = 990 - y, F_y(d) = (relu(2y - 990) + 10) / 1000 = 0.01
    p, r, f1 = affiliation_prf([[990, 1000]], [[0, 10]], 1000)
    assert (p, r) == (pytest.approx(0.005, abs=1e-12), pytest.approx(0.01, abs=1e-12))
    assert f1 == pytest.approx(2 * 0.005 * 0.01 / 0.015, abs=1e-12)


def test_affiliation_hand_derived_two_zones():
    # J1 = [2, 4], J2 = [8, 10] on [0, 10]: zones [0, 6] and [6, 10]; pred = J1 exactly.
    # Zone 1: precision 1, recall 1. Zone 2 holds no prediction: recall 0, precision not averaged.
    p, r, _ = affiliation_prf([[2, 4]], [[2, 4], [8, 10]], 10)
    assert p == pytest.approx(1.0) and r == pytest.approx(0.5)
    # A prediction inside a ground-truth event is fully precise; covering it fully recalls it.
    p, r, _ = affiliation_prf([[8, 9]], [[2, 4], [8, 10]], 10)
    assert p == pytest.approx(1.0) and r < 0.5


@pytest.mark.parametrize(
    ("gt", "length"), [([[4, 6]], 10), ([[0, 10]], 1000), ([[100, 150], [600, 640]], 1000), ([[3, 4], [5, 9]], 12)]
)
def test_affiliation_whole_range_prediction_is_a_coin_flip(gt, length):
    # Predicting every point: zone precision = E[F(D(X))] = P(D' >= D) for iid distances D, D' of uniform points.
    # D is continuous except its atom at 0 of mass p0 = |J| / |E|, so P(D' >= D) = (1 + p0^2) / 2; recall is 1.
    z = [0.0] + [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(gt)] + [float(length)]
    expected = np.mean([(1 + ((e - s) / (z[j + 1] - z[j])) ** 2) / 2 for j, (s, e) in enumerate(gt)])
    p, r, _ = affiliation_prf([[0, length]], gt, length)
    assert p == pytest.approx(expected, abs=1e-12) and r == 1.0


def test_affiliation_matches_the_reference_implementation():
    ref = pytest.importorskip("tsadmetrics.utils.functions_affiliation")
    rng = np.random.default_rng(2022)
    for _ in range(400):
        length = int(rng.integers(4, 500))
        pred, gt = random_events(rng, length, 7, 1), random_events(rng, length, 5, 1)
        expected = ref.pr_from_events([tuple(map(int, x)) for x in pred], [tuple(map(int, x)) for x in gt], (0, length))
        p, r, _ = affiliation_prf(pred, gt, length)
        assert p == pytest.approx(expected["precision"], abs=1e-9)
        assert r == pytest.approx(expected["recall"], abs=1e-9)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_affiliation_properties(data):
    length = data.draw(st.integers(2, 2000))
    gt = data.draw(interval_lists(length))
    pred = data.draw(interval_lists(length))
    extra = data.draw(interval_lists(length))
    p, r, f1 = affiliation_prf(pred, gt, length)
    assert all(0.0 <= v <= 1.0 for v in (p, r, f1))
    assert affiliation_prf(gt, gt, length) == (1.0, 1.0, 1.0) or not gt
    if pred and gt:
        # predictions only add recall: distances to the prediction set can only shrink
        assert affiliation_prf(pred + extra, gt, length)[1] >= r - 1e-12
