"""verl hook: a training step's trajectories in dataloader order, whatever order their rollouts finished in.

verl 0.9.1's v1 replay buffer hands the trainer a step's keys (`{uid}_{session}_{index}`) in the order the
rollouts reached TransferQueue, which changes from run to run. The sequence-length balancing and the
mini-/micro-batch split follow that order, so two runs with one seed update on different mini-batches and drift
apart from the second step. `DataloaderOrderMixin` records each prompt's position as the dataloader yields it and
sorts the step's keys by (position, session, index) before verl balances them, so a seeded run splits its
mini-batches the same way every time. The sort only fixes the order verl starts from; the balancing itself is
verl's, unchanged. (Runs can still part from float rounding in an update; docs/cpu.md.)
"""

from __future__ import annotations

import itertools
from typing import Any


def key_order(key: str, positions: dict[str, int]) -> tuple:
    """Sort key of a TransferQueue key `{uid}_{session}_{index}`: the uid's dataloader position (unknown uids,
    such as verl's padding keys, last), then each numeric part as a number."""
    uid, *rest = key.split("_")
    parts = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in rest)
    return (uid not in positions, positions.get(uid, 0), uid, parts)


class DataloaderOrderMixin:
    """Put before a verl v1 trainer class: `_balance_batch` starts from the dataloader's order."""

    def _prompt_positions(self) -> dict[str, int]:
        if "_positions" not in self.__dict__:
            self._positions: dict[str, int] = {}
            self._next_position = itertools.count()
        return self._positions

    def _fetch_one_gen_batch(self) -> Any:
        batch = super()._fetch_one_gen_batch()
        positions = self._prompt_positions()
        for uid in batch["uid"]:
            positions[str(uid)] = next(self._next_position)
        return batch

    def _balance_batch(self, batch: Any, metrics: dict, *args: Any, **kwargs: Any) -> Any:
        positions = self._prompt_positions()
        batch.reorder(sorted(range(len(batch.keys)), key=lambda i: key_order(batch.keys[i], positions)))
        for key in batch.keys:  # a trained prompt never comes back (verl re-issues only unfinished ones)
            positions.pop(key.split("_")[0], None)
        return super()._balance_batch(batch, metrics, *args, **kwargs)
