"""TimerPO grounded in the policy itself, end to end through `main_ppo` on the CPU backend.

Oracle: the grounding values that the actor worker computed at step 1 (pre-update weights = the initial
checkpoint) equal an independent recomputation from that checkpoint: a plain Hugging Face forward with
`output_hidden_states=True` on the chat-templated image + prompt + response token ids, the ExpCoT trace text-only,
and POT's `ot.sinkhorn` on scipy's softmax-of-norm masses and POT's cosine cost. Both grounding sources run.
"""

from __future__ import annotations

import math

import numpy as np
import ot as pot
import pytest
import torch
from scipy.special import softmax

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

EPS, N_ITER, TAU, MAX_REFERENCE_TOKENS = 0.08, 50, 0.5, 512


def _finished(run):
    assert run.returncode == 0, run.stdout[-3000:]
    return run


def pot_grounding(H_r: np.ndarray, H_e: np.ndarray) -> float:
    """s = exp(-W / tau), W = <T, C> with T from POT's Sinkhorn (n_iter iterations, no early stop)."""
    if len(H_r) == 0 or len(H_e) == 0:
        return math.exp(-1.0 / TAU)
    a, b = softmax(np.linalg.norm(H_r, axis=1)), softmax(np.linalg.norm(H_e, axis=1))
    C = np.clip(pot.dist(H_r, H_e, metric="cosine"), 0.0, 2.0)
    plan = pot.sinkhorn(b, a, C.T, EPS, numItermax=N_ITER, stopThr=0.0, warn=False).T
    return float(np.clip(np.exp(-np.sum(plan * C) / TAU), 0.0, 1.0))


@pytest.fixture(scope="module")
def recomputed(demo_timerpo):
    """(dumped row, independently recomputed grounding) for every step-1 generation."""
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from verl.utils.dataset.vision_utils import process_image

    from verl_anomseer.eval.backends.base import chat_content
    from verl_anomseer.eval.samples import load_samples

    run = _finished(demo_timerpo)
    model_dir = run.out / "model"
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    samples = {s.series_id: s for s in load_samples(run.out / "data" / "train.parquet")}
    tokenizer = processor.tokenizer
    out = []
    for row in [r for r in run.generations() if r["step"] == 1]:
        sample = samples[row["series_id"]]
        text = processor.apply_chat_template(
            [{"role": "user", "content": chat_content(sample.prompt)}], add_generation_prompt=True, tokenize=False
        )
        inputs = processor(text=[text], images=[process_image({"bytes": sample.image})], return_tensors="pt")
        prompt_ids = inputs["input_ids"][0]
        assert tokenizer.decode(prompt_ids, skip_special_tokens=True) == row["input"]  # the same prompt tokens
        ids = torch.cat([prompt_ids, torch.tensor(row["response_ids"], dtype=prompt_ids.dtype)])[None]
        # the processor marks the image tokens (M-RoPE positions); the response tokens are text
        token_types = inputs["mm_token_type_ids"][0]
        token_types = torch.cat([token_types, token_types.new_zeros(len(row["response_ids"]))])[None]
        with torch.no_grad():
            hidden = model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                mm_token_type_ids=token_types,
                pixel_values=inputs["pixel_values"],
                image_grid_thw=inputs["image_grid_thw"],
                output_hidden_states=True,
                use_cache=False,
            ).hidden_states[-1][0, len(prompt_ids) :]
            trace = tokenizer(
                sample.extra_info["expcot"], add_special_tokens=False, truncation=True, max_length=MAX_REFERENCE_TOKENS
            )["input_ids"]
            reference = model(
                input_ids=torch.tensor([trace]), output_hidden_states=True, use_cache=False
            ).hidden_states[-1][0]
        out.append((row, pot_grounding(hidden.double().numpy(), reference.double().numpy())))
    return out


def test_step1_policy_grounding_equals_an_independent_recomputation(recomputed):
    assert len(recomputed) >= 8
    for row, expected in recomputed:
        assert row["grounding"] == pytest.approx(expected, abs=1e-4), (row["series_id"], row["output"][:80])
    assert len({round(row["grounding"], 6) for row, _ in recomputed}) > 1, "every response got the same grounding"


@pytest.mark.parametrize("which", ["demo_timerpo", "demo_timerpo_reward"])
def test_every_dumped_generation_carries_its_grounding_and_series_id(which, request):
    run = _finished(request.getfixturevalue(which))
    rows = run.generations()
    assert len(rows) == 2 * 2 * 8  # steps x prompts x rollouts
    series = {s for s in (row["series_id"] for row in rows)}
    assert all(isinstance(s, str) and s for s in series) and len(series) >= 2
    for row in rows:
        assert 0.0 <= row["grounding"] <= 1.0, row


@pytest.mark.parametrize("which", ["demo_timerpo", "demo_timerpo_reward"])
def test_timerpo_metrics_are_finite_and_undefined_ones_are_handled(which, request):
    """`projected_group_frac` is always logged; the projection coefficient only where a group was projected."""
    run = _finished(request.getfixturevalue(which))
    policy = which == "demo_timerpo"
    for step, values in run.metrics.items():
        timerpo = {k: v for k, v in values.items() if k.startswith("timerpo/")}
        assert all(math.isfinite(v) for v in timerpo.values()), (step, timerpo)
        always = {"timerpo/grounding_mean", "timerpo/grounding_std", "timerpo/projected_group_frac"}
        if policy:
            always |= {"timerpo/mass_entropy_response", "timerpo/mass_entropy_reference"}
            assert values["timing_s/grounding"] >= 0.0
        assert always <= set(timerpo), (step, sorted(timerpo))
        assert 0.0 < timerpo["timerpo/grounding_mean"] <= 1.0
        assert ("timerpo/proj_coef_mean" in timerpo) == (timerpo["timerpo/projected_group_frac"] > 0), timerpo


def test_the_two_sources_embed_differently(demo_timerpo, demo_timerpo_reward):
    """The same prompts and model, two embedding spaces: the step-1 grounding columns are not the same numbers."""
    policy = [row["grounding"] for row in _finished(demo_timerpo).generations() if row["step"] == 1]
    reward = [row["grounding"] for row in _finished(demo_timerpo_reward).generations() if row["step"] == 1]
    assert len(policy) == len(reward) and not np.allclose(sorted(policy), sorted(reward), atol=1e-3)
