"""The grounding term of the reward: how close a response is to its ExpCoT reference, in [0, 1].

``grounding_score(response, reference, config)`` encodes both texts with the configured token encoder
and returns :func:`~verl_anomseer.grounding.ot.ot_score` (or :func:`~verl_anomseer.grounding.ot.cosine_score`).
The whole response is embedded, as the authors do (reasoning, answer and class tags alike).

Config keys (all optional, defaults in :data:`DEFAULTS`): ``similarity`` ``"ot" | "cosine"``; ``encoder``
``"minilm"`` (the shipped offline default) or a Hugging Face model path; ``device``; ``max_length``
(tokens per text); ``eps``, ``n_iter``, ``tau`` (OT); ``batch_size`` (encoder batch); ``cache_size``
(reference texts kept in the LRU). One encoder is built per process and configuration.

Sentinel: a missing or blank reference gives ``NaN`` ("no signal"; the estimator counts it as missing).
Any response text (empty, huge, any unicode, not even a str) gives a number in [0, 1]; only a bad config raises.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from verl_anomseer.grounding import ot
from verl_anomseer.grounding.encoders import MAX_TOKENS, CachedEncoder, HFTokenEncoder, default_encoder

DEFAULT_ENCODER = "minilm"
SIMILARITIES = ("ot", "cosine")


@dataclass(frozen=True)
class GroundingConfig:
    similarity: str = "ot"
    encoder: str = DEFAULT_ENCODER
    device: str = "cpu"
    max_length: int = MAX_TOKENS
    eps: float = ot.DEFAULT_EPS
    n_iter: int = ot.DEFAULT_N_ITER
    tau: float = ot.DEFAULT_TAU
    batch_size: int = 16
    cache_size: int = 256

    @classmethod
    def from_mapping(cls, config: Mapping | None) -> GroundingConfig:
        """Validate a (possibly partial) mapping; unknown keys or bad values raise ``ValueError``."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown grounding config key(s) {unknown}; valid keys: {sorted(known)}")
        cfg = cls(**config)
        if cfg.similarity not in SIMILARITIES:
            raise ValueError(f"grounding similarity must be one of {SIMILARITIES}, got {cfg.similarity!r}")
        for name in ("eps", "tau"):
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"grounding {name} must be a finite number > 0, got {value!r}")
        for name, minimum in (("n_iter", 1), ("max_length", 1), ("batch_size", 1), ("cache_size", 0)):
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"grounding {name} must be an integer >= {minimum}, got {value!r}")
        if not isinstance(cfg.encoder, str) or not cfg.encoder:
            raise ValueError(f"grounding encoder must be {DEFAULT_ENCODER!r} or a model path, got {cfg.encoder!r}")
        return cfg


class GroundingScorer:
    """An encoder, a reference cache and the similarity of one :class:`GroundingConfig`."""

    def __init__(self, cfg: GroundingConfig):
        self.cfg = cfg
        kwargs = {"device": cfg.device, "max_length": cfg.max_length, "batch_size": cfg.batch_size}
        self.encoder = (
            default_encoder(**kwargs) if cfg.encoder == DEFAULT_ENCODER else HFTokenEncoder(cfg.encoder, **kwargs)
        )
        self.references = CachedEncoder(self.encoder, maxsize=cfg.cache_size)

    def similarity(self, H_r, H_e) -> float:
        if self.cfg.similarity == "cosine":
            return ot.cosine_score(H_r, H_e)
        return ot.ot_score(H_r, H_e, eps=self.cfg.eps, n_iter=self.cfg.n_iter, tau=self.cfg.tau)

    def scores(self, responses: Sequence, references: Sequence) -> list[float]:
        if len(responses) != len(references):
            raise ValueError(f"{len(responses)} responses but {len(references)} references")
        has_ref = [isinstance(r, str) and bool(r.strip()) for r in references]
        pairs = [(_as_text(resp), ref) for resp, ref, ok in zip(responses, references, has_ref) if ok]
        if not pairs:
            return [math.nan] * len(responses)
        H_rs = self.encoder.encode([resp for resp, _ in pairs])
        H_es = self.references.encode([ref for _, ref in pairs])
        found = iter(self.similarity(H_r, H_e) for H_r, H_e in zip(H_rs, H_es))
        return [next(found) if ok else math.nan for ok in has_ref]


def _as_text(response) -> str:
    if isinstance(response, str):
        return response
    if isinstance(response, bytes):
        return response.decode("utf-8", "replace")
    return "" if response is None else str(response)


_scorer_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached_scorer(cfg: GroundingConfig) -> GroundingScorer:
    return GroundingScorer(cfg)


def get_scorer(config: Mapping | None = None) -> GroundingScorer:
    """The process-wide scorer for ``config`` (built once per distinct configuration)."""
    cfg = GroundingConfig.from_mapping(config)
    with _scorer_lock:
        return _cached_scorer(cfg)


def grounding_scores(responses: Sequence, references: Sequence, config: Mapping | None = None) -> list[float]:
    """Batched :func:`grounding_score`: the responses are encoded together, the references through the cache."""
    return get_scorer(config).scores(responses, references)


def grounding_score(response, reference, config: Mapping | None = None) -> float:
    """Similarity in [0, 1] between ``response`` and the ExpCoT ``reference``; NaN if the reference is missing."""
    return grounding_scores([response], [reference], config)[0]
