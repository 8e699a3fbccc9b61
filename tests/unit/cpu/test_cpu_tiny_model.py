"""The tiny Qwen2.5-VL builder: loadable through the Auto classes verl uses, image inputs reach the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from verl_anomseer.cpu.tiny_model import MAX_IMAGE_TOKENS, answer_text, build_tiny_qwen25vl


@pytest.fixture(scope="module")
def loaded(tiny_vl_model):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(tiny_vl_model), AutoModelForImageTextToText.from_pretrained(tiny_vl_model)


def _inputs(processor, size=(480, 640)):
    image = Image.fromarray((np.random.default_rng(0).random((*size, 3)) * 255).astype("uint8"))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Find the anomalies."}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return processor(text=[text], images=[image], return_tensors="pt")


def test_auto_classes_load_a_qwen25vl_with_its_processor(loaded):
    processor, model = loaded
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessor"
    assert model.config.model_type == "qwen2_5_vl"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_chat_template_renders_image_placeholders_expanded_by_the_processor(loaded):
    processor, model = loaded
    batch = _inputs(processor)
    n_image_tokens = int((batch["input_ids"] == model.config.image_token_id).sum())
    grid = batch["image_grid_thw"][0]
    assert n_image_tokens == int(grid.prod()) // 4  # 2x2 merge
    assert 0 < n_image_tokens <= MAX_IMAGE_TOKENS
    assert batch["pixel_values"].shape[0] == int(grid.prod())


def test_generate_consumes_pixel_values(loaded):
    processor, model = loaded
    batch = _inputs(processor)
    batch.pop("mm_token_type_ids", None)
    with torch.no_grad():
        logits = model(**batch).logits[0, -1]
        other = dict(batch, pixel_values=batch["pixel_values"] + 1.0)
        logits_other = model(**other).logits[0, -1]
        out = model.generate(**batch, max_new_tokens=8, do_sample=False)
    assert not torch.allclose(logits, logits_other)  # the image changes the prediction
    assert out.shape[1] > batch["input_ids"].shape[1]


def test_answer_vocabulary_round_trips_and_tags_survive_skip_special_tokens(loaded):
    import random

    tok = loaded[0].tokenizer
    text = answer_text(random.Random(3))
    ids = tok(text + "<|im_end|>")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text
    for tag in ("<think>", "</answer>", "<class>"):
        assert len(tok.tokenize(tag)) == 1


def test_build_is_idempotent(tiny_vl_model):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_vl_model.iterdir()}
    assert build_tiny_qwen25vl(tiny_vl_model) == tiny_vl_model
    assert {p.name: p.stat().st_mtime_ns for p in tiny_vl_model.iterdir()} == before
    assert json.loads((tiny_vl_model / "build.json").read_text())["sft_steps"] == 0


def test_negative_sft_steps_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sft_steps"):
        build_tiny_qwen25vl(tmp_path / "m", sft_steps=-1)
