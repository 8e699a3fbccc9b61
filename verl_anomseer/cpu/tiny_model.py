"""A tiny random Qwen2.5-VL, built locally in seconds, for CPU runs and tests (no hub access).

`build_tiny_qwen25vl(out_dir)` writes a directory that `AutoModelForImageTextToText`, `AutoTokenizer` and
`AutoProcessor` load: a ~0.2 M-parameter Qwen2.5-VL with random weights, a byte-level BPE tokenizer trained
here on the task's vocabulary (Qwen special tokens, a chat template that renders image content) and a
Qwen2.5-VL processor whose image side is capped at `MAX_IMAGE_TOKENS` visual tokens.

With `sft_steps > 0` the model is then fitted for that many steps on answers in the task's format
(`<think>..</think><answer>[[s, e]]</answer><class>c</class>` with random content), so that sampled
generations are parseable some of the time and rewards vary within a group: what a CPU smoke run needs.
The build is deterministic and idempotent (a finished directory is reused; `build.json` records the recipe).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

from verl_anomseer.series.prompt import IMAGE_PLACEHOLDER, build_prompt
from verl_anomseer.series.taxonomy import CLASSES

PATCH_SIZE = 14
MERGE_SIZE = 2
MAX_IMAGE_TOKENS = 16
"""Visual tokens per image after the 2x2 merge (each covers 28x28 pixels)."""
VOCAB_SIZE = 1024
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
ANSWER_TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<class>", "</class>"]
# Qwen2's pre-tokenizer: contractions, words, single digits, punctuation runs, newlines, spaces.
_QWEN2_PRETOKENIZE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# A Qwen2-VL style chat template: one turn per message, images as <|vision_start|><|image_pad|><|vision_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or 'image' in item or 'image_url' in item %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' or 'video' in item %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in item %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_RECIPE_VERSION = 4


_SCANS = ("a spike", "a level shift", "a slope change", "a period change", "a noisy burst", "a flat stretch")


def answer_text(rng: random.Random, length: int = 400) -> str:
    """One well-formed answer with random content in the ExpCoT layout (observation, reasoning, conclusion):
    the warm-start targets and part of the tokenizer corpus. Intervals lie inside ``[0, length)``."""
    label = rng.choice(CLASSES)
    if label == "normal":
        spans, seen = [], "no clear anomaly"
    else:
        start = rng.randrange(0, length - 40)
        spans, seen = [[start, start + rng.randrange(5, 40)]], f"{rng.choice(_SCANS)} near {start}"
    return (
        f"<think>Observation: {seen}. Reasoning: it fits {label}. Conclusion: {label}.</think>"
        f"<answer>{json.dumps(spans)}</answer><class>{label}</class>"
    )


def _corpus(rng: random.Random) -> list[str]:
    texts = [answer_text(rng, length) for length in (400, 1000) for _ in range(200)]
    texts += [f"{i} {i + 7} [[{i}, {i + 3}]]" for i in range(0, 1000, 13)]
    texts += [" ".join(CLASSES), " ".join(ANSWER_TAGS)]
    texts += [build_prompt(length) for length in (400, 1000)]
    return texts


def _build_tokenizer(rng: random.Random):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_PRETOKENIZE), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(rng), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tok.add_tokens(ANSWER_TAGS)  # plain added tokens: kept when decoding with skip_special_tokens=True
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _build_model(tok):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {name: tok.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "tie_word_embeddings": True,
            "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": PATCH_SIZE,
            "spatial_merge_size": MERGE_SIZE,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = None
    return model


def _build_processor(tok):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = (PATCH_SIZE * MERGE_SIZE) ** 2
    image_processor = Qwen2VLImageProcessor(
        min_pixels=4 * pixels, max_pixels=MAX_IMAGE_TOKENS * pixels, patch_size=PATCH_SIZE, merge_size=MERGE_SIZE
    )
    video_processor = Qwen2VLVideoProcessor(patch_size=PATCH_SIZE, merge_size=MERGE_SIZE)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tok, video_processor=video_processor, chat_template=CHAT_TEMPLATE
    )


def _sft(model, processor, steps: int, seed: int, length: int, batch_size: int = 8) -> None:
    """Warm start: fit the model on well-formed answers with random content (:func:`answer_text`), each after the
    task's own prompt for a series of ``length`` points and a random image, so that the format carries over to
    the real prompts; the content is left for reinforcement learning to learn."""
    import numpy as np
    import torch
    from PIL import Image

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = processor.tokenizer
    image = Image.fromarray((np.random.default_rng(seed).random((84, 112, 3)) * 255).astype("uint8"))
    instruction = build_prompt(length).removeprefix(IMAGE_PLACEHOLDER)  # the text verl's dataset puts after the image
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]
    prompt = processor(
        text=[processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)],
        images=[image],
        return_tensors="pt",
    )
    prompt_ids = prompt["input_ids"].repeat(batch_size, 1)
    vision = {
        "pixel_values": prompt["pixel_values"].repeat(batch_size, 1),
        "image_grid_thw": prompt["image_grid_thw"].repeat(batch_size, 1),
    }
    positions = _mrope_positions(model, prompt["input_ids"], prompt["image_grid_thw"], tail=128)
    optim = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        targets = [answer_text(rng, length) + "<|im_end|>" for _ in range(batch_size)]
        answers = tok(targets, padding=True, return_tensors="pt")
        input_ids = torch.cat([prompt_ids, answers["input_ids"]], dim=1)
        attention_mask = torch.cat([torch.ones_like(prompt_ids), answers["attention_mask"]], dim=1)
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        labels[:, : prompt_ids.shape[1]] = -100
        position_ids = positions[:, :, : input_ids.shape[1]].expand(-1, batch_size, -1)
        model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, labels=labels, **vision
        ).loss.backward()
        optim.step()
        optim.zero_grad()
    model.eval()


def _mrope_positions(model, prompt_ids, image_grid_thw, tail: int):
    """(4, 1, len(prompt) + tail) position ids as verl passes them: text row + 3 M-RoPE rows, computed once
    (the positions after the image do not depend on which text tokens follow)."""
    import torch

    ids = torch.cat([prompt_ids, torch.zeros((1, tail), dtype=prompt_ids.dtype)], dim=1)
    mm_types = (ids == model.config.image_token_id).long()
    rope, _ = model.model.get_rope_index(
        ids, image_grid_thw=image_grid_thw, attention_mask=torch.ones_like(ids), mm_token_type_ids=mm_types
    )
    return torch.cat([torch.arange(ids.shape[1])[None, None], rope], dim=0)


def build_tiny_qwen25vl(out_dir: str | os.PathLike, sft_steps: int = 0, seed: int = 0, sft_length: int = 400) -> Path:
    """Write (once) a tiny Qwen2.5-VL model + tokenizer + processor to `out_dir`; return its path.

    Idempotent: when `out_dir/build.json` records the same recipe, the directory is returned as is. The
    directory is assembled in a sibling temp dir and renamed into place, so a crash never leaves half a model.
    """
    out = Path(out_dir)
    recipe = {"version": _RECIPE_VERSION, "sft_steps": int(sft_steps), "seed": int(seed), "sft_length": int(sft_length)}
    stamp = out / "build.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == recipe:
        return out
    if sft_steps < 0:
        raise ValueError(f"sft_steps must be >= 0, got {sft_steps}")

    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = _build_tokenizer(rng)
    model = _build_model(tok)
    processor = _build_processor(tok)
    if sft_steps:
        _sft(model, processor, sft_steps, seed, sft_length)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "build.json").write_text(json.dumps(recipe))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
