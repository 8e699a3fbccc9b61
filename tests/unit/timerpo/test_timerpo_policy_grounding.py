"""The policy source's pieces on real tensors: the final-norm capture equals Hugging Face's hidden_states[-1]
on the tiny Qwen2.5-VL, response slicing undoes verl's packed and padded layouts, traces are tokenized
text-only and truncated, and a missing trace is NaN."""

from __future__ import annotations

import math

import pytest
import torch
from verl.utils import tensordict_utils as tu

from verl_anomseer.grounding.batched_ot import ot_scores
from verl_anomseer.grounding.policy import ReferenceStates, reference_text, reference_token_ids, score_responses
from verl_anomseer.timerpo.actor_worker import LastOutput, PolicyGroundingError, final_norm, response_states


@pytest.fixture(scope="module")
def tiny(tiny_vl_model):
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    return AutoModelForImageTextToText.from_pretrained(tiny_vl_model).eval(), AutoTokenizer.from_pretrained(
        tiny_vl_model
    )


def _micro_batch(prompt_lens, resp_masks, use_remove_padding):
    """verl's no-padding micro-batch layout: nested input_ids (prompt + response) and nested response_mask."""
    input_ids = [torch.arange(p + len(m)) + 100 * i for i, (p, m) in enumerate(zip(prompt_lens, resp_masks))]
    td = tu.get_tensordict(
        {
            "input_ids": torch.nested.as_nested_tensor(input_ids, layout=torch.jagged),
            "response_mask": torch.nested.as_nested_tensor([torch.tensor(m) for m in resp_masks], layout=torch.jagged),
        },
        non_tensor_dict={"use_remove_padding": use_remove_padding},
    )
    return td, input_ids


def _states_from_ids(ids: torch.Tensor) -> torch.Tensor:
    """A (T, 2) 'hidden state' that names its token, so slicing can be checked exactly."""
    return torch.stack([ids.float(), -ids.float()], dim=-1)


@pytest.mark.parametrize("use_remove_padding", [True, False])
def test_response_states_slice_the_valid_response_tokens_in_both_layouts(use_remove_padding):
    prompt_lens = [3, 5, 2]
    resp_masks = [[1, 1, 0, 1], [1], [0, 0]]
    td, input_ids = _micro_batch(prompt_lens, resp_masks, use_remove_padding)
    if use_remove_padding:  # packed (1, total + pad, D), with verl's static tail pad
        hidden = torch.cat([_states_from_ids(ids) for ids in input_ids] + [torch.full((3, 2), 9e9)]).unsqueeze(0)
    else:  # right-padded (rows, longest, D)
        longest = max(len(ids) for ids in input_ids)
        hidden = torch.full((len(input_ids), longest, 2), 9e9)
        for i, ids in enumerate(input_ids):
            hidden[i, : len(ids)] = _states_from_ids(ids)
    out = response_states(hidden, td)
    for ids, p, mask, got in zip(input_ids, prompt_lens, resp_masks, out):
        expected = _states_from_ids(ids[p:][torch.tensor(mask).bool()])
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert out[2].shape == (0, 2)


def test_final_norm_output_is_hugging_faces_last_hidden_state(tiny):
    model, _ = tiny
    ids = torch.tensor([[5, 17, 42, 8, 99, 3]])
    capture = LastOutput(final_norm(model))
    try:
        with torch.no_grad():
            out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
        torch.testing.assert_close(capture.take(), out.hidden_states[-1], rtol=0, atol=0)
    finally:
        capture.close()
    with pytest.raises(PolicyGroundingError, match="never reached"):
        capture.take()


def test_a_model_without_a_text_decoder_norm_is_refused():
    with pytest.raises(PolicyGroundingError, match="grounding.source=reward"):
        final_norm(torch.nn.Linear(2, 2))


def test_traces_are_text_only_and_truncated_never_dropped(tiny):
    _, tokenizer = tiny
    text = "Observation: the level jumps between t=120 and t=160. " * 60
    ids = reference_token_ids(tokenizer, text, max_tokens=32)
    assert len(ids) == 32
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"][:32]
    assert reference_text({"expcot": "  "}) is None and reference_text(None) is None
    assert reference_text({"expcot": "trace"}) == "trace"


def test_scores_use_each_distinct_trace_once_and_nan_without_one():
    calls = []
    dim = 4

    def forward(ids):
        calls.append(ids.shape[1])
        g = torch.Generator().manual_seed(int(ids.sum()))
        return torch.randn(ids.shape[1], dim, generator=g, dtype=torch.float64)

    class Tok:
        def __call__(self, text, add_special_tokens, truncation, max_length):
            return {"input_ids": [len(w) for w in text.split()][:max_length]}

    refs = ReferenceStates(Tok(), forward, max_tokens=8)
    traces = ["a bb ccc", None, "a bb ccc", "dddd e"]
    refs.compute(refs.token_ids(traces), "cpu")
    assert sorted(calls) == [2, 3]
    g = torch.Generator().manual_seed(0)
    responses = [torch.randn(n, dim, generator=g, dtype=torch.float64) for n in (5, 3, 0, 2)]
    out = score_responses(responses, traces, refs, eps=0.08, n_iter=50, tau=0.5)
    assert math.isnan(out.score[1]) and math.isnan(out.entropy_response[1])
    expected = ot_scores([responses[i] for i in (0, 2, 3)], [refs[traces[i]] for i in (0, 2, 3)]).score
    torch.testing.assert_close(out.score[[0, 2, 3]], expected, rtol=0, atol=0)
    assert out.score[2].item() == pytest.approx(math.exp(-1.0 / 0.5))  # no response token: W = 1
    cosine = score_responses(responses, traces, refs, similarity="cosine")
    assert ((cosine.score[[0, 2, 3]] >= 0) & (cosine.score[[0, 2, 3]] <= 1)).all() and math.isnan(cosine.score[1])
