"""A training step's batch order: verl's own v1 `_fetch_one_gen_batch` and `_balance_batch`, with the plugin's
order hook in front, give one order for every order in which the rollouts could have finished."""

from __future__ import annotations

import itertools
import random
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from recipe_support import compose_ppo

from verl_anomseer.timerpo.batch_order import key_order

pytestmark = pytest.mark.integration

PROMPTS, SESSIONS = 4, 3  # rollout.n = 3 rollouts of each of 4 prompts
# sequence lengths with ties, so that verl's balancing alone would follow the arrival order
SEQ_LEN = {(p, s): 10 + (p * SESSIONS + s) % 4 for p in range(PROMPTS) for s in range(SESSIONS)}


@pytest.fixture(scope="module")
def trainer_cls():
    from verl.trainer.ppo import v1

    return v1.trainer_base.TRAINER_REGISTRY["sync"]  # the plugin's subclass (installed by the entry point)


def _trainer(cls, dataloader):
    config = compose_ppo(
        f"actor_rollout_ref.rollout.n={SESSIONS}",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2",
        f"data.train_batch_size={PROMPTS}",
    )
    trainer = cls.__new__(cls)  # the two steps need only these attributes (docs/architecture.md)
    trainer.config, trainer.global_steps, trainer.use_critic = config, 1, False
    trainer.train_dataloader, trainer.train_dataloader_it = dataloader, None
    trainer.actor_rollout_wg = types.SimpleNamespace(_dispatch_info={"actor": [0, 1]})  # dp size 2
    trainer.tokenizer = types.SimpleNamespace(eos_token_id=0)
    return trainer


def _step_order(cls, arrival_seed: int) -> list[tuple[int, int]]:
    """(prompt, session) of each sample as verl's `_balance_batch` hands them to the workers, after the rollouts
    arrived in the order `arrival_seed` shuffles."""
    from transfer_queue import KVBatchMeta

    raw = np.array([f"prompt {p}" for p in range(PROMPTS)], dtype=object)
    trainer = _trainer(cls, [{"raw_prompt": raw}])
    uids = list(trainer._fetch_one_gen_batch()["uid"])
    arrived = list(itertools.product(range(PROMPTS), range(SESSIONS)))
    random.Random(arrival_seed).shuffle(arrived)
    keys = [f"{uids[p]}_{s}_0" for p, s in arrived]
    tags = [{"seq_len": SEQ_LEN[p, s]} for p, s in arrived]
    batch = trainer._balance_batch(KVBatchMeta(keys=keys, tags=tags, partition_id="train"), metrics={})
    assert sorted(batch.keys) == sorted(keys)
    return [(uids.index(k.split("_")[0]), int(k.split("_")[1])) for k in batch.keys]


@pytest.mark.slow
def test_every_arrival_order_gives_one_step_order(trainer_cls):
    orders = {tuple(_step_order(trainer_cls, seed)) for seed in range(6)}
    assert len(orders) == 1, orders


def test_verls_balancing_alone_follows_the_arrival_order(trainer_cls):
    """The oracle that the test above can fail: without the hook the same arrivals give different orders."""
    verl_cls = next(base for base in trainer_cls.__mro__ if base.__module__.startswith("verl."))
    orders = {tuple(_step_order(verl_cls, seed)) for seed in range(6)}
    assert len(orders) > 1


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 12), st.integers(0, 2)), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
)
def test_key_order_sorts_by_position_then_session_then_index(samples, rnd):
    positions = {f"u{p}": p for p in range(4)}  # u4, u5: unknown uids (verl's padding keys), after the known ones
    keys = list(dict.fromkeys(f"u{p}_{s}_{i}" for p, s, i in samples))
    shuffled = keys[:]
    rnd.shuffle(shuffled)
    got = sorted(shuffled, key=lambda k: key_order(k, positions))

    def expected(key):
        p, s, i = (int(part.lstrip("u")) for part in key.split("_"))
        return (p >= 4, p, s, i)  # numeric, not lexicographic: session 10 after session 9

    assert got == sorted(keys, key=expected)
