"""One entry point for every synthetic series: ``generate(suite, category, index, seed)``.

Sample ``index`` draws from its own generator, ``default_rng(SeedSequence([seed, crc32(suite),
crc32(category), crc32(split), index]))``, so it is the same whatever else is generated, in whatever
order or process. Suites: ``anomllm`` (``series.anomllm``) and ``vta`` (``series.vta``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from verl_anomseer.series.anomllm import generate_anomllm
from verl_anomseer.series.taxonomy import SUITES, class_for
from verl_anomseer.series.vta import generate_vta

DEFAULT_LENGTH: dict[str, int] = {"anomllm": 1000, "vta": 400}
MIN_GENERATOR_LENGTH = 20
_SUITE_FUNCS = {"anomllm": generate_anomllm, "vta": generate_vta}


@dataclass
class Series:
    """A generated series: float64 ``values``, GT ``intervals`` (end-exclusive, sorted, disjoint), class ``label``."""

    values: np.ndarray
    intervals: list[tuple[int, int]]
    suite: str
    category: str
    label: str


def _stable_int(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def sample_rng(seed: int, suite: str, category: str, index: int, split: str = "") -> np.random.Generator:
    """The generator of one sample, keyed by (seed, suite, category, split, index)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative; got seed={seed}, index={index}")
    key = [int(seed), _stable_int(suite), _stable_int(category), _stable_int(split), int(index)]
    return np.random.default_rng(np.random.SeedSequence(key))


def generate(suite: str, category: str, index: int, seed: int, length: int | None = None, *, split: str = "") -> Series:
    """Sample ``index`` of ``suite``/``category`` (``length`` defaults to ``DEFAULT_LENGTH[suite]``).

    ``split`` names an independent stream (the builder passes "train" / "test"); "" is the plain stream.
    """
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    if category not in SUITES[suite]:
        raise ValueError(f"unknown category {category!r} for suite {suite!r}; known: {', '.join(SUITES[suite])}")
    length = DEFAULT_LENGTH[suite] if length is None else int(length)
    if length < MIN_GENERATOR_LENGTH:
        raise ValueError(f"length must be at least {MIN_GENERATOR_LENGTH}; got {length}")
    values, intervals = _SUITE_FUNCS[suite](sample_rng(seed, suite, category, index, split), category, length)
    values = np.asarray(values, dtype=np.float64)
    return Series(values, intervals, suite, category, class_for(category, bool(intervals)))
