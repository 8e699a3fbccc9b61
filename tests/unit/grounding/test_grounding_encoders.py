"""Token encoders: the shipped MiniLM against sentence-transformers, batching/padding invariance,
truncation, decoders (causality as the oracle for right padding), the LRU cache and thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from verl_anomseer.grounding.encoders import CachedEncoder, HFTokenEncoder, TokenEncoder, minilm_path

TEXTS = [
    "Observation: the global z-score peaks at 6.1 near index 512, beyond the 3-sigma band.",
    "flat",
    "A seasonal change: the dominant period moves from 25 to 40 samples between 300 and 420. " * 3,
]


def test_minilm_token_embeddings_match_sentence_transformers(minilm_encoder):
    from sentence_transformers import SentenceTransformer

    st_model = SentenceTransformer(str(minilm_path()), device="cpu")
    ours = minilm_encoder.encode(TEXTS)
    for text, H in zip(TEXTS, ours):
        ref = st_model.encode(text, output_value="token_embeddings", convert_to_tensor=True)
        torch.testing.assert_close(H, ref[1:-1].cpu(), atol=1e-4, rtol=1e-4)  # ours drops [CLS]/[SEP]
    assert isinstance(minilm_encoder, TokenEncoder)
    assert minilm_encoder.hidden_size == 384


def test_batching_and_padding_do_not_change_embeddings(tiny_bert_path):
    batched = HFTokenEncoder(tiny_bert_path, batch_size=3).encode(TEXTS)
    single = HFTokenEncoder(tiny_bert_path, batch_size=1).encode(TEXTS)
    for a, b in zip(batched, single):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert [h.dtype for h in batched] == [torch.float32] * 3
    assert all(h.device.type == "cpu" for h in batched)


def test_truncation_to_max_length_and_position_limit(tiny_bert_path):
    long_text = "spike " * 5000
    assert HFTokenEncoder(tiny_bert_path, max_length=10).encode([long_text])[0].shape == (8, 32)  # 10 - [CLS] - [SEP]
    capped = HFTokenEncoder(tiny_bert_path, max_length=512)  # the tiny model has 64 positions
    assert capped.max_length == 64
    assert capped.encode([long_text])[0].shape == (62, 32)


def test_empty_special_only_and_odd_unicode_texts(tiny_bert_path):
    enc = HFTokenEncoder(tiny_bert_path)
    out = enc.encode(["", "   \n\t", "\ud800 lone surrogate", "日本語 😀 \x00"])
    assert [h.shape[0] for h in out[:2]] == [0, 0]
    assert out[2].shape[0] > 0 and out[3].shape[0] > 0
    assert all(torch.isfinite(h).all() for h in out)


def test_decoder_model_is_causal_under_right_padding(tiny_decoder_path):
    """A causal model's prefix states do not depend on later tokens: encoding a prefix and the full
    text in one padded batch must agree on the shared positions (checks the mask and padding side)."""
    enc = HFTokenEncoder(tiny_decoder_path, batch_size=4)
    full, prefix, other = enc.encode(["trend rises after index 300 sharply", "trend rises", "x"])
    assert full.shape[0] > prefix.shape[0] > 0 and other.shape == (1, 32)
    torch.testing.assert_close(full[: prefix.shape[0]], prefix, atol=1e-5, rtol=1e-5)


def test_bad_encoder_arguments(tiny_bert_path):
    with pytest.raises(ValueError, match="max_length"):
        HFTokenEncoder(tiny_bert_path, max_length=0)
    with pytest.raises(ValueError, match="batch_size"):
        HFTokenEncoder(tiny_bert_path, batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            HFTokenEncoder(tiny_bert_path, device="cuda")


class CountingEncoder:
    """Records every batch sent to the wrapped real encoder."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def encode(self, texts):
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_cache_encodes_each_miss_once_and_evicts_least_recent(tiny_bert_path):
    counting = CountingEncoder(HFTokenEncoder(tiny_bert_path))
    cache = CachedEncoder(counting, maxsize=2)
    first = cache.encode(["a b", "c d", "a b"])
    assert counting.calls == [["a b", "c d"]]
    assert first[0] is first[2]
    again = cache.encode(["c d", "a b"])  # hits; "a b" is now the most recent
    assert counting.calls == [["a b", "c d"]] and again[1] is first[0]
    cache.encode(["e f"])  # evicts "c d", the least recently used
    cache.encode(["a b", "c d"])
    assert counting.calls[-1] == ["c d"]


def test_cache_is_thread_safe(tiny_bert_path):
    enc = HFTokenEncoder(tiny_bert_path)
    cache = CachedEncoder(enc, maxsize=3)
    texts = [f"interval {i} to {i + 7} is anomalous" for i in range(8)]
    expected = {t: h for t, h in zip(texts, enc.encode(texts))}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: (texts[i % 8], cache.encode([texts[i % 8]])[0]), range(64)))
    for text, H in results:
        torch.testing.assert_close(H, expected[text], atol=1e-5, rtol=1e-5)


def test_cache_size_validation(tiny_bert_path):
    with pytest.raises(ValueError, match="cache size"):
        CachedEncoder(HFTokenEncoder(tiny_bert_path), maxsize=-1)


def test_policy_checkpoint_gives_the_actors_last_hidden_states(tiny_vl_model):
    """A Qwen2.5-VL checkpoint (what the policy is): the encoder returns the full model's last hidden
    states, as the authors' `output.hidden_states[-1]`, from the checkpoint's trained weights."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    text = "Observation: the level jumps at index 300 and stays high."
    H = HFTokenEncoder(tiny_vl_model).encode([text])[0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_vl_model)
    enc = tokenizer(text, return_special_tokens_mask=True, return_tensors="pt")
    model = AutoModelForImageTextToText.from_pretrained(tiny_vl_model).eval()
    with torch.inference_mode():
        ref = model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states[-1][0]
    torch.testing.assert_close(H, ref[enc["special_tokens_mask"][0] == 0].float(), atol=1e-5, rtol=1e-5)


def test_checkpoint_with_missing_weights_is_refused(tiny_bert_path, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bert_path, broken)
    weights = load_file(broken / "model.safetensors")
    dropped = next(k for k in weights if "encoder.layer.0.attention" in k)
    del weights[dropped]
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="partly random"):
        HFTokenEncoder(broken)
