"""Batch builders shared by the TimerPO unit tests (verl layout: outcome reward on the last response token)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

PAD_UID = "pad0123456789abcdef"
REWARD_GRID = st.integers(min_value=0, max_value=20).map(lambda k: k * 0.05)


def make_batch(groups: list[list[tuple[float, float, int]]], n_padding: int = 0, width: int = 12):
    """groups: per group a list of (reward, grounding, response_length >= 1). Returns verl-style tensors.

    Padding rows imitate verl's `upsample_batch_to_divisible_size`: one shared `pad...` uid, zero reward,
    all-zero response mask.
    """
    rows = [(f"uid{g}", r, s, n) for g, members in enumerate(groups) for (r, s, n) in members]
    rows += [(PAD_UID, 0.0, 0.5, 0)] * n_padding
    bsz = len(rows)
    rewards = torch.zeros(bsz, width, dtype=torch.float32)
    mask = torch.zeros(bsz, width, dtype=torch.int64)
    for i, (_, r, _, n) in enumerate(rows):
        if n:
            mask[i, :n] = 1
            rewards[i, n - 1] = r
    index = np.array([u for u, *_ in rows], dtype=object)
    grounding = np.array([s for _, _, s, _ in rows], dtype=np.float64)
    return rewards, mask, index, grounding


@st.composite
def batches(draw, rewards=REWARD_GRID, max_groups: int = 6, max_group_size: int = 8, nan_grounding: bool = True):
    grounding = st.floats(0.0, 1.0) | st.just(float("nan")) if nan_grounding else st.floats(0.0, 1.0)
    member = st.tuples(rewards, grounding, st.integers(1, 12))
    groups = draw(st.lists(st.lists(member, min_size=1, max_size=max_group_size), min_size=1, max_size=max_groups))
    n_padding = draw(st.integers(0, 3))
    return make_batch(groups, n_padding=n_padding)
