"""The OT grounding score against independent oracles: POT's reference solver, the authors' recurrence
written out by hand, scipy/sklearn for masses and cosines, closed-form cases and entropic-OT bounds."""

from __future__ import annotations

import math

import numpy as np
import ot as pot
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp, softmax
from sklearn.metrics.pairwise import cosine_similarity

from verl_anomseer.grounding.ot import (
    EMPTY_DISTANCE,
    cosine_cost,
    cosine_score,
    ot_distance,
    ot_score,
    sinkhorn_plan,
    token_masses,
)


def authors_sinkhorn(a, b, C, eps, n_iter):
    """The released recurrence, verbatim in numpy: u, v from ones; u = a/(Kv); v = b/(K^T u)."""
    K = np.maximum(np.exp(-C / eps), 1e-300)
    u, v = np.ones_like(a), np.ones_like(b)
    for _ in range(n_iter):
        u = a / (K @ v)
        v = b / (K.T @ u)
    return u[:, None] * K * v[None, :]


def authors_sinkhorn_log(a, b, C, eps, n_iter):
    """The same recurrence in log space (for eps so small that K underflows)."""
    logK = -C / eps
    log_u, log_v = np.zeros_like(a), np.zeros_like(b)
    for _ in range(n_iter):
        log_u = np.log(a) - logsumexp(logK + log_v[None, :], axis=1)
        log_v = np.log(b) - logsumexp(logK + log_u[:, None], axis=0)
    return np.exp(log_u[:, None] + logK + log_v[None, :])


def pot_pipeline_distance(H_r, H_e, eps, n_iter):
    """W built from other libraries only: scipy softmax, POT's cosine distance, POT's sinkhorn2."""
    a = softmax(np.linalg.norm(H_r, axis=1))
    b = softmax(np.linalg.norm(H_e, axis=1))
    C = np.clip(pot.dist(H_r, H_e, metric="cosine"), 0.0, 2.0)
    return float(pot.sinkhorn2(a, b, C, eps, method="sinkhorn", numItermax=n_iter, stopThr=1e-12, warn=False))


def random_problem(seed, n=7, m=5, d=6, scale=1.0):
    rng = np.random.default_rng(seed)
    H_r, H_e = rng.normal(size=(n, d)) * scale, rng.normal(size=(m, d)) * scale
    return H_r, H_e, token_masses(H_r), token_masses(H_e), cosine_cost(H_r, H_e)


@pytest.mark.parametrize("seed", range(5))
def test_plan_matches_authors_recurrence_at_50_iterations(seed):
    _, _, a, b, C = random_problem(seed)
    np.testing.assert_allclose(sinkhorn_plan(a, b, C, 0.08, 50), authors_sinkhorn(a, b, C, 0.08, 50), rtol=0, atol=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_plan_and_cost_match_pot_reference_solver(seed):
    _, _, a, b, C = random_problem(seed, n=40, m=30, d=16)
    ref = pot.sinkhorn(a, b, C, 0.08, method="sinkhorn", numItermax=5000, stopThr=1e-13)
    ours = sinkhorn_plan(a, b, C, 0.08, 5000)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert abs(np.sum(ours * C) - np.sum(ref * C)) < 1e-6


def test_default_settings_match_pot_on_real_text_embeddings(minilm_encoder):
    """At the shipped eps/n_iter, on MiniLM embeddings of actual traces, POT's own 50-iteration run agrees."""
    H_r, H_e = minilm_encoder.encode(
        [
            "The series is flat until index 300, where a spike reaches 4.2 sigma: a global point anomaly.",
            "Observation: mean 0.01, std 0.31. A value of 1.4 at index 301 lies beyond mu + 3 sigma. "
            "Conclusion: global point.",
        ]
    )
    a, b, C = token_masses(H_r), token_masses(H_e), cosine_cost(H_r, H_e)
    ref = pot.sinkhorn(a, b, C, 0.08, method="sinkhorn", numItermax=50, warn=False)
    np.testing.assert_allclose(sinkhorn_plan(a, b, C), ref, rtol=0, atol=1e-6)
    assert ot_distance(H_r, H_e) == pytest.approx(float(np.sum(ref * C)), abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_distance_matches_independent_pot_pipeline(seed):
    H_r, H_e, *_ = random_problem(seed, n=30, m=20, d=12)
    assert ot_distance(H_r, H_e, 0.08, 5000) == pytest.approx(pot_pipeline_distance(H_r, H_e, 0.08, 5000), abs=1e-6)


def test_tiny_eps_uses_log_domain_and_matches_log_recurrence():
    _, _, a, b, C = random_problem(3)
    eps = 0.002  # K = exp(-C/eps) underflows to 0 for C > 1.5: the plain recurrence would divide by 0
    plan = sinkhorn_plan(a, b, C, eps, 50)
    assert np.isfinite(plan).all()
    np.testing.assert_allclose(plan, authors_sinkhorn_log(a, b, C, eps, 50), rtol=0, atol=1e-8)


def test_torch_inputs_give_the_numpy_result():
    H_r, H_e, a, b, C = random_problem(4)
    assert ot_score(torch.from_numpy(H_r).float(), torch.from_numpy(H_e).float()) == pytest.approx(
        ot_score(H_r.astype(np.float32), H_e.astype(np.float32)), abs=1e-12
    )
    np.testing.assert_allclose(
        sinkhorn_plan(*map(torch.from_numpy, (a, b, C))).numpy(), sinkhorn_plan(a, b, C), atol=1e-12
    )
    bf16_r, bf16_e = torch.from_numpy(H_r).bfloat16(), torch.from_numpy(H_e).bfloat16()
    assert ot_score(bf16_r, bf16_e) == pytest.approx(
        ot_score(bf16_r.float().numpy(), bf16_e.float().numpy()), abs=1e-12
    )


def test_masses_and_cost_against_scipy_and_sklearn():
    H_r, H_e, a, _, C = random_problem(5)
    np.testing.assert_allclose(a, softmax(np.linalg.norm(H_r, axis=1)), atol=1e-12)
    np.testing.assert_allclose(C, np.clip(1 - cosine_similarity(H_r, H_e), 0, 2), atol=1e-12)


def test_single_tokens_give_the_cosine_distance():
    h_r, h_e = np.array([[1.0, 2.0, 0.5]]), np.array([[0.3, -1.0, 2.0]])
    w = 1 - cosine_similarity(h_r, h_e)[0, 0]
    assert ot_distance(h_r, h_e) == pytest.approx(w, abs=1e-12)
    assert ot_score(h_r, h_e, tau=0.5) == pytest.approx(math.exp(-w / 0.5), abs=1e-12)


def test_constant_cost_gives_the_product_plan():
    """Parallel vectors of different lengths: C = 0 everywhere, plan = a b^T, W = 0, s = 1."""
    H_r, H_e = np.array([[1.0, 1.0], [2.0, 2.0]]), np.array([[3.0, 3.0], [0.5, 0.5], [1.0, 1.0]])
    a, b = token_masses(H_r), token_masses(H_e)
    np.testing.assert_allclose(sinkhorn_plan(a, b, cosine_cost(H_r, H_e)), np.outer(a, b), atol=1e-12)
    assert ot_score(H_r, H_e) == pytest.approx(1.0)


def test_orthogonal_tokens_hand_derived():
    """Two orthonormal tokens on each side, identical: C = [[0,1],[1,0]], a = b = (1/2, 1/2).
    The converged entropic plan is [[p, q], [q, p]] / 2 with p = 1/(1+e^{-1/eps}), so W = q = 1 - p."""
    H = np.eye(2)
    eps = 0.5
    q = 1 - 1 / (1 + math.exp(-1 / eps))
    assert ot_distance(H, H, eps=eps, n_iter=2000) == pytest.approx(q, abs=1e-9)


@pytest.mark.parametrize(
    "H_r, H_e",
    [
        (np.zeros((0, 4)), np.ones((3, 4))),
        (np.ones((3, 4)), np.zeros((0, 4))),
        (np.zeros((0, 4)), np.zeros((0, 4))),
    ],
)
def test_empty_side_gives_w_one(H_r, H_e):
    assert ot_distance(H_r, H_e) == EMPTY_DISTANCE
    assert ot_score(H_r, H_e) == pytest.approx(math.exp(-2.0))
    assert cosine_score(H_r, H_e) == 0.0


def test_zero_vectors_have_cosine_zero():
    Z = np.zeros((3, 4))
    np.testing.assert_array_equal(cosine_cost(Z, np.ones((2, 4))), np.ones((3, 2)))
    assert ot_distance(Z, np.ones((2, 4))) == pytest.approx(1.0)
    assert cosine_score(Z, Z) == 0.0


def test_huge_and_non_finite_hidden_states_stay_finite():
    H_r = np.array([[1e300, 1e300, 0.0], [1.0, 0.0, 0.0], [np.inf, -np.inf, np.nan], [1e-200, 0.0, 1e-200]])
    H_e = np.array([[1e308, 1e308, 1e308], [0.0, 1.0, 0.0]])
    a = token_masses(H_r)
    assert np.isfinite(a).all() and a.sum() == pytest.approx(1.0)
    assert a[1] == 0.0  # norm 1 vs norms near 1e300: all the mass moves to the huge tokens
    for eps in (0.08, 0.001):
        w = ot_distance(H_r, H_e, eps=eps)
        assert 0.0 <= w <= 2.0
    assert 0.0 <= ot_score(H_r, H_e) <= 1.0
    assert 0.0 <= cosine_score(H_r, H_e) <= 1.0
    # the tiny row keeps its direction: it is parallel to (1, 0, 1)
    assert cosine_cost(H_r[3:], np.array([[1.0, 0.0, 1.0]]))[0, 0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eps": 0},
        {"eps": -1.0},
        {"eps": float("nan")},
        {"n_iter": 0},
        {"n_iter": 2.5},
        {"tau": 0},
        {"tau": float("inf")},
    ],
)
def test_bad_parameters_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ot_score(np.ones((2, 3)), np.ones((2, 3)), **kwargs)


def test_non_matrix_input_raises():
    with pytest.raises(ValueError, match="2-D"):
        ot_score(np.ones(3), np.ones((2, 3)))


# ---- property tests -------------------------------------------------------------------------------------

_any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
_moderate = st.floats(-10, 10, allow_nan=False, width=64)
_grid = st.integers(-1000, 1000).map(lambda k: k / 100)  # no sub-1e-100 values: sklearn's normalize zeroes them


def _embeddings(elements, min_rows=0, max_rows=6, dim=4):
    return arrays(np.float64, st.tuples(st.integers(min_rows, max_rows), st.just(dim)), elements=elements)


@given(_embeddings(_any_float), _embeddings(_any_float), st.floats(1e-3, 2.0), st.integers(1, 60))
def test_score_is_always_a_number_in_unit_interval(H_r, H_e, eps, n_iter):
    w = ot_distance(H_r, H_e, eps=eps, n_iter=n_iter)
    s = ot_score(H_r, H_e, eps=eps, n_iter=n_iter)
    c = cosine_score(H_r, H_e)
    assert 0.0 <= w <= 2.0 and 0.0 <= s <= 1.0 and 0.0 <= c <= 1.0
    assert s == pytest.approx(math.exp(-w / 0.5))


def _converges(H_r, H_e, eps, n_iter=3000):
    """POT's reference run meets both marginals to 1e-10 within n_iter (Sinkhorn is slow when K is
    nearly block-diagonal; the converged-plan properties below only hold once it has converged)."""
    a, b, C = token_masses(H_r), token_masses(H_e), cosine_cost(H_r, H_e)
    plan = pot.sinkhorn(a, b, C, eps, method="sinkhorn", numItermax=n_iter, stopThr=1e-12, warn=False)
    return bool(np.abs(plan.sum(axis=1) - a).max() < 1e-10 and np.abs(plan.sum(axis=0) - b).max() < 1e-10)


@settings(max_examples=50)
@given(_embeddings(_moderate, min_rows=1), _embeddings(_moderate, min_rows=1))
def test_converged_distance_is_symmetric(H_r, H_e):
    assume(_converges(H_r, H_e, 0.08))
    assert ot_distance(H_r, H_e, n_iter=3000) == pytest.approx(ot_distance(H_e, H_r, n_iter=3000), abs=1e-6)


@settings(max_examples=50)
@given(_embeddings(_moderate, min_rows=1))
def test_identical_inputs_reach_the_entropic_minimum(H):
    """Exact OT(H, H) = 0 (non-zero rows); the entropic plan's transport cost exceeds it by at most
    eps * H(a) (<T, C> - eps H(T) <= <diag(a), C> - eps H(a) and H(T) <= 2 H(a))."""
    eps = 0.08
    assume(bool(np.all(np.abs(H).max(axis=1) > 1e-3)) and _converges(H, H, eps))
    a = token_masses(H)
    entropy = -float(np.sum(a[a > 0] * np.log(a[a > 0])))
    assert ot_distance(H, H, eps=eps, n_iter=3000) <= eps * entropy + 1e-6


@given(_embeddings(_grid, min_rows=1), _embeddings(_grid, min_rows=1))
def test_cosine_score_matches_sklearn_and_is_symmetric(H_r, H_e):
    m_r, m_e = H_r.mean(axis=0, keepdims=True), H_e.mean(axis=0, keepdims=True)
    expected = float(np.clip(cosine_similarity(m_r, m_e)[0, 0], 0, 1)) if np.any(m_r) and np.any(m_e) else 0.0
    assert cosine_score(H_r, H_e) == pytest.approx(expected, abs=1e-9)
    assert cosine_score(H_r, H_e) == cosine_score(H_e, H_r)


@settings(max_examples=50)
@given(_embeddings(_moderate, min_rows=1), _embeddings(_moderate, min_rows=1), st.floats(0.02, 1.0), st.integers(1, 60))
def test_plan_marginals_and_pot_agreement(H_r, H_e, eps, n_iter):
    """After any number of iterations the last-updated (column) marginal is exact; once converged,
    the plan is POT's reference plan."""
    a, b, C = token_masses(H_r), token_masses(H_e), cosine_cost(H_r, H_e)
    np.testing.assert_allclose(sinkhorn_plan(a, b, C, eps, n_iter).sum(axis=0), b, atol=1e-12)
    assume(_converges(H_r, H_e, eps))
    plan = sinkhorn_plan(a, b, C, eps, 3000)
    ref = pot.sinkhorn(a, b, C, eps, method="sinkhorn", numItermax=3000, stopThr=1e-12, warn=False)
    np.testing.assert_allclose(plan, ref, rtol=0, atol=1e-6)
