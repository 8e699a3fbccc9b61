"""TimerPO estimator against independent oracles: verl's own grpo, the projection identities, hand-derived cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

from verl_anomseer.timerpo.advantage import (
    compute_timerpo_advantage,
    grounding_feed,
    group_ids_from_index,
    timerpo_advantage,
)

from .conftest import batches, make_batch


def _algo(**timerpo):
    return OmegaConf.create({"adv_estimator": "timerpo", "timerpo": timerpo})


def _pure(rewards, mask, index, grounding, **kw):
    """Sequence-level float64 advantages from the pure function."""
    return timerpo_advantage(
        rewards.sum(-1).double(),
        torch.from_numpy(grounding),
        group_ids_from_index(index),
        mask.sum(-1) > 0,
        **kw,
    )


def _groups(index, mask):
    valid = (mask.sum(-1) > 0).numpy()
    for uid in dict.fromkeys(index.tolist()):
        rows = np.flatnonzero((index == uid) & valid)
        if len(rows):
            yield rows


@pytest.mark.parametrize("norm_by_std", [False, True])
@given(data=batches(rewards=st.floats(0.0, 1.0) | st.sampled_from([0.0, 0.1, 1.0])))
def test_alpha_zero_equals_verl_grpo(norm_by_std, data):
    rewards, mask, index, grounding = data
    with grounding_feed(grounding):
        ours, returns = compute_timerpo_advantage(
            rewards, mask, index=index, config=_algo(alpha=0.0, norm_by_std=norm_by_std)
        )
    theirs, _ = compute_grpo_outcome_advantage(rewards, mask, index, norm_adv_by_std_in_grpo=norm_by_std)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=2e-6)
    assert torch.equal(ours, returns)


@pytest.mark.parametrize("projection", ["orthogonal", "conflict"])
@given(data=batches(), alpha=st.floats(0.05, 2.0))
def test_projected_component_is_orthogonal_to_outcome(projection, data, alpha):
    rewards, mask, index, grounding = data
    a_main, _ = _pure(rewards, mask, index, grounding, alpha=0.0)
    adv, _ = _pure(rewards, mask, index, grounding, alpha=alpha, projection=projection)
    a_perp = (adv - a_main) / alpha
    for rows in _groups(index, mask):
        if float(a_main[rows].abs().max()) == 0.0:
            continue
        inner = float(a_perp[rows] @ a_main[rows])
        if projection == "orthogonal":
            assert abs(inner) <= 1e-6
        else:  # conflict: never opposes the outcome direction
            assert inner >= -1e-6


@given(data=batches(), alpha=st.floats(0.05, 2.0))
def test_conflict_leaves_aligned_groups_untouched(data, alpha):
    rewards, mask, index, grounding = data
    none, _ = _pure(rewards, mask, index, grounding, alpha=alpha, projection="none")
    conflict, _ = _pure(rewards, mask, index, grounding, alpha=alpha, projection="conflict")
    ortho, _ = _pure(rewards, mask, index, grounding, alpha=alpha, projection="orthogonal")
    a_main, _ = _pure(rewards, mask, index, grounding, alpha=0.0)
    for rows in _groups(index, mask):
        a_g = (none[rows] - a_main[rows]) / alpha
        if float(a_g @ a_main[rows]) >= 0:
            torch.testing.assert_close(conflict[rows], none[rows], rtol=0, atol=1e-12)
        else:
            torch.testing.assert_close(conflict[rows], ortho[rows], rtol=0, atol=1e-12)


@given(data=batches(), alpha=st.floats(0.0, 1.0), projection=st.sampled_from(["orthogonal", "none", "conflict"]))
def test_padding_and_missing_rows_behave(data, alpha, projection):
    rewards, mask, index, grounding = data
    with grounding_feed(grounding) as feed:
        adv, _ = compute_timerpo_advantage(rewards, mask, index=index, config=_algo(alpha=alpha, projection=projection))
    assert torch.isfinite(adv).all()
    assert torch.all(adv[mask == 0] == 0)  # zero outside the response, padding rows all zero
    seq = adv.gather(1, (mask.sum(-1, keepdim=True) - 1).clamp(min=0))[:, 0]
    row_const = (adv == seq[:, None]) | (mask == 0)
    assert row_const.all()  # one advantage per response, broadcast over its tokens
    a_main, _ = _pure(rewards, mask, index, grounding, alpha=0.0)
    no_signal = ~np.isfinite(grounding)
    torch.testing.assert_close(seq[no_signal].double(), a_main[no_signal], rtol=0, atol=1e-6)
    assert set(feed.metrics) >= {"timerpo/zero_var_group_frac", "timerpo/missing_grounding_frac"}
    assert all(math.isfinite(v) for v in feed.metrics.values())


@given(data=batches(), seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter(data, seed):
    rewards, mask, index, grounding = data
    perm = np.random.default_rng(seed).permutation(len(index))
    adv, _ = _pure(rewards, mask, index, grounding, alpha=0.3)
    adv_p, _ = _pure(rewards[perm], mask[perm], index[perm], grounding[perm], alpha=0.3)
    torch.testing.assert_close(adv_p, adv[torch.from_numpy(perm)], rtol=0, atol=1e-12)


def test_hand_derived_group():
    # r = (1, 0, 0.5): A_main = (0.5, -0.5, 0); s = (0.2, 0.8, 0.5): A_g = (-0.3, 0.3, 0)
    # <A_g, A_main> = -0.3, ||A_main||^2 = 0.5, coef = -0.6; A_perp = A_g + 0.6 A_main = (0, 0, 0)
    rewards, mask, index, grounding = make_batch([[(1.0, 0.2, 3), (0.0, 0.8, 5), (0.5, 0.5, 2)]])
    ortho, stats = _pure(rewards, mask, index, grounding, alpha=0.3)
    torch.testing.assert_close(ortho, torch.tensor([0.5, -0.5, 0.0], dtype=torch.float64), rtol=0, atol=1e-7)
    assert stats.proj_coef_mean == pytest.approx(-0.6, abs=1e-7)
    assert stats.grounding_mean == pytest.approx(0.5)
    none, _ = _pure(rewards, mask, index, grounding, alpha=0.3, projection="none")
    torch.testing.assert_close(none, torch.tensor([0.41, -0.41, 0.0], dtype=torch.float64), rtol=0, atol=1e-7)
    conflict, _ = _pure(rewards, mask, index, grounding, alpha=0.3, projection="conflict")
    torch.testing.assert_close(conflict, ortho, rtol=0, atol=1e-12)  # opposing -> removed


def test_zero_variance_group_is_driven_by_grounding_alone():
    # all rewards equal: A_main = 0, nothing to project, A = alpha * (s - mean(s))
    rewards, mask, index, grounding = make_batch([[(0.7, 0.1, 4), (0.7, 0.4, 4)], [(0.2, 0.9, 1)]])
    adv, stats = _pure(rewards, mask, index, grounding, alpha=0.5)
    # one-row group: no baseline (verl's grpo: mean 0, std 1), no grounding comparison
    torch.testing.assert_close(adv, torch.tensor([-0.075, 0.075, 0.2], dtype=torch.float64), rtol=0, atol=1e-6)
    assert stats.zero_var_group_frac == 1.0
    assert stats.proj_coef_mean is None


def test_nan_grounding_is_counted_and_gives_no_signal():
    rewards, mask, index, grounding = make_batch([[(1.0, float("nan"), 2), (0.0, 0.3, 2), (0.5, 0.9, 2)]])
    adv, stats = _pure(rewards, mask, index, grounding, alpha=0.3)
    assert stats.missing_grounding_frac == pytest.approx(1 / 3)
    assert float(adv[0]) == pytest.approx(0.5)  # A_main only
    all_nan = np.full_like(grounding, np.nan)
    adv_nan, stats_nan = _pure(rewards, mask, index, all_nan, alpha=0.3)
    torch.testing.assert_close(adv_nan, torch.tensor([0.5, -0.5, 0.0], dtype=torch.float64), rtol=0, atol=1e-12)
    assert stats_nan.grounding_mean is None and stats_nan.missing_grounding_frac == 1.0


def test_padding_rows_do_not_change_real_rows():
    groups = [[(1.0, 0.2, 3), (0.0, 0.8, 5), (0.5, 0.5, 2)], [(0.3, 0.1, 1), (0.6, 0.7, 9)]]
    plain = _pure(*make_batch(groups), alpha=0.3)[0]
    padded = _pure(*make_batch(groups, n_padding=3), alpha=0.3)[0]
    torch.testing.assert_close(padded[:5], plain, rtol=0, atol=0)
    assert torch.all(padded[5:] == 0)


def test_non_tensor_batch_column_is_used_when_passed():
    rewards, mask, index, _ = make_batch([[(1.0, 0.2, 3), (0.0, 0.8, 5)]])
    ntb = {"uid": index, "gnd": np.array([0.2, None], dtype=object)}
    adv, _ = compute_timerpo_advantage(rewards, mask, index, _algo(grounding_key="gnd"), non_tensor_batch=ntb)
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.5, -0.5]))  # None -> no signal -> GRPO


def test_missing_grounding_source_is_a_clear_error():
    rewards, mask, index, _ = make_batch([[(1.0, 0.2, 3), (0.0, 0.8, 5)]])
    with pytest.raises(RuntimeError, match="verl_anomseer.plugin"):
        compute_timerpo_advantage(rewards, mask, index, _algo(alpha=0.3))
    adv, _ = compute_timerpo_advantage(rewards, mask, index, _algo(alpha=0.0))  # GRPO needs no grounding
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.5, -0.5]))
    with pytest.raises(ValueError, match="uid"):
        compute_timerpo_advantage(rewards, mask, None, _algo(alpha=0.0))
    bad = rewards.clone()
    bad[1, 4] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite outcome reward in rows \[1\]"):
        compute_timerpo_advantage(bad, mask, index, _algo(alpha=0.0))
    with grounding_feed(np.zeros(5)), pytest.raises(RuntimeError, match="shape"):
        compute_timerpo_advantage(rewards, mask, index, _algo(alpha=0.3))
