"""The batched torch OT score against POT, pair by pair (float64): ragged lengths, single tokens, empty sides,
huge and non-finite hidden states; masses and entropies against scipy."""

from __future__ import annotations

import math

import numpy as np
import ot as pot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy

from verl_anomseer.grounding.batched_ot import cosine_scores, ot_scores
from verl_anomseer.grounding.ot import EMPTY_DISTANCE, cosine_score, ot_distance


def pot_distance(H_r: np.ndarray, H_e: np.ndarray, eps: float, n_iter: int) -> float:
    """W from scipy masses, POT's cosine distance and POT's Sinkhorn-Knopp run for exactly n_iter iterations."""
    if len(H_r) == 0 or len(H_e) == 0:
        return EMPTY_DISTANCE
    a = softmax(np.linalg.norm(H_r, axis=1))
    b = softmax(np.linalg.norm(H_e, axis=1))
    C = np.clip(pot.dist(H_r, H_e, metric="cosine"), 0.0, 2.0)
    # a token whose mass underflowed to exactly 0 carries no transport; POT divides by the masses, so drop it
    C, a, b = C[a > 0][:, b > 0], a[a > 0], b[b > 0]
    # POT updates v first from u = 1/n; run on the transposed problem, its u-first order matches ours
    plan = pot.sinkhorn(b, a, C.T, eps, method="sinkhorn", numItermax=n_iter, stopThr=0.0, warn=False).T
    return float(np.sum(plan * C))


def _random_pairs(seed: int, n_pairs: int, dim: int = 8, max_len: int = 40, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    responses, references = [], []
    for _ in range(n_pairs):
        responses.append(rng.normal(size=(int(rng.integers(1, max_len)), dim)) * scale)
        references.append(rng.normal(size=(int(rng.integers(1, max_len)), dim)) * scale)
    return responses, references


def _torch(arrays):
    return [torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in arrays]


@pytest.mark.parametrize("seed", range(4))
def test_batched_distance_equals_pot_per_pair_on_ragged_lengths(seed):
    responses, references = _random_pairs(seed, n_pairs=12)
    out = ot_scores(_torch(responses), _torch(references), eps=0.08, n_iter=50, tau=0.5)
    expected = np.array([pot_distance(r, e, 0.08, 50) for r, e in zip(responses, references)])
    np.testing.assert_allclose(out.distance.numpy(), expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(out.score.numpy(), np.clip(np.exp(-expected / 0.5), 0, 1), rtol=0, atol=1e-8)


def test_batched_distance_equals_the_numpy_pot_path_of_the_reward_source():
    responses, references = _random_pairs(7, n_pairs=6, dim=16)
    out = ot_scores(_torch(responses), _torch(references))
    expected = [ot_distance(r, e) for r, e in zip(responses, references)]
    np.testing.assert_allclose(out.distance.numpy(), expected, rtol=0, atol=1e-8)


def test_chunking_does_not_change_values():
    responses, references = _random_pairs(3, n_pairs=9)
    whole = ot_scores(_torch(responses), _torch(references))
    chunked = ot_scores(_torch(responses), _torch(references), chunk_elements=500)
    torch.testing.assert_close(chunked.distance, whole.distance, rtol=0, atol=1e-12)


def test_single_tokens_transport_everything_at_their_cost():
    rng = np.random.default_rng(0)
    h_r, h_e = rng.normal(size=(1, 5)), rng.normal(size=(1, 5))
    out = ot_scores(_torch([h_r]), _torch([h_e]))
    cos = float(h_r[0] @ h_e[0] / np.linalg.norm(h_r) / np.linalg.norm(h_e))
    assert out.distance.item() == pytest.approx(1 - cos, abs=1e-12)
    assert out.entropy_response.item() == 0.0 and out.entropy_reference.item() == 0.0


def test_empty_sides_give_the_empty_distance_and_leave_other_pairs_alone():
    rng = np.random.default_rng(1)
    full = rng.normal(size=(4, 3))
    responses = [np.zeros((0, 3)), full, full, np.zeros((0, 3))]
    references = [full, np.zeros((0, 3)), full, np.zeros((0, 3))]
    out = ot_scores(_torch(responses), _torch(references), tau=0.5)
    assert out.distance[:2].tolist() == [EMPTY_DISTANCE, EMPTY_DISTANCE]
    assert out.distance[3].item() == EMPTY_DISTANCE
    assert out.distance[2].item() == pytest.approx(pot_distance(full, full, 0.08, 50), abs=1e-8)
    assert out.score[0].item() == pytest.approx(math.exp(-2.0))


def test_huge_and_non_finite_hidden_states_give_finite_scores():
    rng = np.random.default_rng(2)
    H = rng.normal(size=(6, 4)) * 1e300
    H[0, 0], H[1, 1], H[2] = np.inf, np.nan, 0.0
    out = ot_scores(_torch([H, H]), _torch([rng.normal(size=(3, 4)), H]))
    for field in (out.distance, out.score, out.entropy_response, out.entropy_reference):
        assert torch.isfinite(field).all()
    assert ((out.score >= 0) & (out.score <= 1)).all()


def test_huge_norms_match_pot_on_the_same_directions():
    """Scaling the rows changes the masses (softmax of norms) but nothing may overflow: compare with POT."""
    responses, references = _random_pairs(5, n_pairs=4, scale=30.0)
    out = ot_scores(_torch(responses), _torch(references))
    expected = [pot_distance(r, e, 0.08, 50) for r, e in zip(responses, references)]
    np.testing.assert_allclose(out.distance.numpy(), expected, rtol=0, atol=1e-8)


def test_log_domain_for_tiny_eps_matches_pot_log_solver():
    responses, references = _random_pairs(11, n_pairs=3, max_len=10)
    eps = 0.005  # max(C)/eps up to 400: K underflows, the log-domain iterations take over
    out = ot_scores(_torch(responses), _torch(references), eps=eps, n_iter=30)
    for (H_r, H_e), got in zip(zip(responses, references), out.distance.tolist()):
        a, b = softmax(np.linalg.norm(H_r, axis=1)), softmax(np.linalg.norm(H_e, axis=1))
        C = np.clip(pot.dist(H_r, H_e, metric="cosine"), 0.0, 2.0)
        plan = pot.sinkhorn(b, a, C.T, eps, method="sinkhorn_log", numItermax=30, stopThr=0.0, warn=False).T
        assert got == pytest.approx(float(np.sum(plan * C)), abs=1e-8)


def test_mass_entropies_equal_scipy():
    responses, references = _random_pairs(4, n_pairs=5)
    out = ot_scores(_torch(responses), _torch(references))
    for i, (H_r, H_e) in enumerate(zip(responses, references)):
        assert out.entropy_response[i].item() == pytest.approx(scipy_entropy(softmax(np.linalg.norm(H_r, axis=1))))
        assert out.entropy_reference[i].item() == pytest.approx(scipy_entropy(softmax(np.linalg.norm(H_e, axis=1))))


def test_float32_inputs_stay_close_to_float64():
    responses, references = _random_pairs(8, n_pairs=6, dim=32)
    exact = ot_scores(_torch(responses), _torch(references)).distance
    single = ot_scores([t.float() for t in _torch(responses)], [t.float() for t in _torch(references)]).distance
    torch.testing.assert_close(single, exact, rtol=0, atol=1e-5)


def test_cosine_scores_equal_the_numpy_cosine_score():
    responses, references = _random_pairs(9, n_pairs=5)
    responses.append(np.zeros((0, 8)))
    references.append(references[0])
    got = cosine_scores(_torch(responses), _torch(references))
    expected = [cosine_score(r, e) for r, e in zip(responses, references)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"eps": 0.0}, "eps"), ({"tau": -1.0}, "tau"), ({"n_iter": 0}, "n_iter")]
)
def test_bad_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ot_scores(_torch([np.ones((2, 2))]), _torch([np.ones((2, 2))]), **kwargs)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
    log_scale=st.floats(-3, 3),
)
def test_property_scores_finite_in_range_and_equal_pot(lengths, seed, log_scale):
    rng = np.random.default_rng(seed)
    responses = [rng.normal(size=(n, 3)) * 10**log_scale for n, _ in lengths]
    references = [rng.normal(size=(m, 3)) * 10**log_scale for _, m in lengths]
    out = ot_scores(_torch(responses), _torch(references))
    assert torch.isfinite(out.score).all() and ((out.score >= 0) & (out.score <= 1)).all()
    expected = [pot_distance(r, e, 0.08, 50) for r, e in zip(responses, references)]
    np.testing.assert_allclose(out.distance.numpy(), expected, rtol=0, atol=1e-8)
