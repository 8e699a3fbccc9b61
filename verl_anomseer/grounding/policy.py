"""The policy source of the grounding score: the actor's own last-layer hidden states (no verl import).

For a batch of responses whose hidden states were captured during the actor's forward on image + prompt +
response (the old-log-prob pass), and their ExpCoT traces:

- each distinct trace is tokenized text-only (no chat template, no image, no special tokens added, at most
  ``max_reference_tokens`` tokens; longer traces are truncated, never dropped) and run once through the same
  model by ``forward_reference`` (``(1, T)`` token ids -> ``(T, D)`` last-layer states);
- the score of response ``i`` is the OT score (:mod:`~verl_anomseer.grounding.batched_ot`) between its valid
  response states and its trace's states, or the mean-pooled cosine when ``similarity == "cosine"``;
- a missing or blank trace gives NaN ("no signal", as the reward source).

The verl side (capturing the states inside the actor worker) lives in ``verl_anomseer.timerpo.actor_worker``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from verl_anomseer.grounding import batched_ot
from verl_anomseer.grounding.encoders import CHARS_PER_TOKEN_BOUND, clean_text

REFERENCE_FIELD = "expcot"
"""The ``extra_info`` key of a dataset row that holds its ExpCoT trace."""


def reference_text(extra_info: object) -> str | None:
    """The row's ExpCoT trace, or None when it is missing or blank."""
    text = extra_info.get(REFERENCE_FIELD) if isinstance(extra_info, Mapping) else None
    return text if isinstance(text, str) and text.strip() else None


def reference_token_ids(tokenizer, text: str, max_tokens: int) -> list[int]:
    """Token ids of a trace: text only, no special tokens added, at most ``max_tokens``."""
    clean = clean_text(text, max_tokens * CHARS_PER_TOKEN_BOUND)
    return list(tokenizer(clean, add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"])


@dataclass(frozen=True)
class PolicyGrounding:
    """Per-response results (float64, shape (B,)): the score (NaN without a trace) and the mass entropies."""

    score: torch.Tensor
    entropy_response: torch.Tensor
    entropy_reference: torch.Tensor


class ReferenceStates:
    """Hidden states of each distinct trace, computed once by ``forward_reference`` and kept for the batch."""

    def __init__(self, tokenizer, forward_reference: Callable[[torch.Tensor], torch.Tensor], max_tokens: int):
        self.tokenizer = tokenizer
        self.forward_reference = forward_reference
        self.max_tokens = max_tokens
        self.states: dict[str, torch.Tensor] = {}

    def token_ids(self, texts: Sequence[str | None]) -> dict[str, list[int]]:
        """The distinct non-empty traces of ``texts`` not computed yet, with their token ids, in first-seen order."""
        todo: dict[str, list[int]] = {}
        for text in texts:
            if text is not None and text not in self.states and text not in todo:
                todo[text] = reference_token_ids(self.tokenizer, text, self.max_tokens)
        return todo

    def compute(self, todo: Mapping[str, list[int]], device: torch.device | str) -> None:
        for text, ids in todo.items():
            if not ids:
                self.states[text] = torch.zeros(0, 1, device=device)
                continue
            self.states[text] = self.forward_reference(torch.tensor([ids], dtype=torch.long, device=device))

    def __getitem__(self, text: str) -> torch.Tensor:
        return self.states[text]


def score_responses(
    response_states: Sequence[torch.Tensor],
    traces: Sequence[str | None],
    references: ReferenceStates,
    *,
    similarity: str = "ot",
    eps: float = batched_ot.DEFAULT_EPS,
    n_iter: int = batched_ot.DEFAULT_N_ITER,
    tau: float = batched_ot.DEFAULT_TAU,
) -> PolicyGrounding:
    """Scores of responses (``response_states[i]`` (T_i, D)) against their traces (computed in ``references``)."""
    if len(response_states) != len(traces):
        raise ValueError(f"{len(response_states)} responses but {len(traces)} traces")
    n = len(traces)
    score = torch.full((n,), math.nan, dtype=torch.float64)
    ent_r = torch.full((n,), math.nan, dtype=torch.float64)
    ent_e = torch.full((n,), math.nan, dtype=torch.float64)
    rows = [i for i, text in enumerate(traces) if text is not None]
    if not rows:
        return PolicyGrounding(score, ent_r, ent_e)
    dim = int(response_states[rows[0]].shape[-1])
    device = response_states[rows[0]].device
    resp = [response_states[i].reshape(-1, dim) for i in rows]
    refs = [_as_width(references[traces[i]], dim, device) for i in rows]
    index = torch.tensor(rows)
    if similarity == "cosine":
        score[index] = batched_ot.cosine_scores(resp, refs).cpu()
        return PolicyGrounding(score, ent_r, ent_e)
    if similarity != "ot":
        raise ValueError(f"similarity must be ot|cosine, got {similarity!r}")
    out = batched_ot.ot_scores(resp, refs, eps=eps, n_iter=n_iter, tau=tau)
    score[index], ent_r[index], ent_e[index] = out.score.cpu(), out.entropy_response.cpu(), out.entropy_reference.cpu()
    return PolicyGrounding(score, ent_r, ent_e)


def _as_width(states: torch.Tensor, dim: int, device: torch.device) -> torch.Tensor:
    """A trace's states on ``device``; an empty trace becomes (0, dim)."""
    if states.shape[0] == 0:
        return torch.zeros(0, dim, dtype=states.dtype, device=device)
    return states.to(device)
