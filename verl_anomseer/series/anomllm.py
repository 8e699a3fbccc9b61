"""The eight AnomLLM synthetic categories (Zhou & Yu 2024), re-implemented on one threaded RNG.

Distributions (durations in samples at the reference length 1000; scaled by ``length / 1000`` otherwise):

| category   | normal signal                | inside an anomaly              | gap mean, min | anomaly mean, min | cap |
|------------|------------------------------|--------------------------------|---------------|-------------------|-----|
| range      | N(0, 0.1) i.i.d.             | + sign * U(0.5, 0.8) per point | 800, 10       | 20, 5             | 8   |
| point      | sin(2 pi 0.03 t)             | replaced by N(0, 0.5)          | 800, 200      | 30, 5             | 8   |
| freq       | sin(2 pi cumsum f), f = 0.03 | f * 3 or f / 3 (fair coin)     | 450, 20       | 15, 7             | -   |
| trend      | sin(2 pi 0.02 t) + slope 3/L | slope U(6, 20)/L               | 1700, 800     | 100, 50           | 8   |
| flat-trend | as trend                     | slope U(4.5, 6)/L              | as trend      | as trend          | 8   |

Gaps and durations are exponential with those means, floored at those minimums; range draws one sign per
interval; trend series are min-max scaled to [-1, 1] at the end; ``noisy-X`` is X plus N(0, 0.08) on every point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verl_anomseer.series.intervals import renewal_intervals
from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES

REFERENCE_LENGTH = 1000
NOISE_STD = 0.08


@dataclass(frozen=True)
class Durations:
    """Renewal-sampler parameters at ``REFERENCE_LENGTH``."""

    gap_mean: float
    gap_min: float
    duration_mean: float
    duration_min: float
    max_intervals: int | None = 8

    def sample(self, rng: np.random.Generator, length: int) -> list[tuple[int, int]]:
        """Intervals for a series of ``length``, durations scaled by ``length / REFERENCE_LENGTH``."""
        scale = length / REFERENCE_LENGTH
        return renewal_intervals(
            rng,
            length,
            gap_mean=self.gap_mean * scale,
            gap_min=max(1.0, self.gap_min * scale),
            duration_mean=self.duration_mean * scale,
            duration_min=max(1.0, self.duration_min * scale),
            max_intervals=self.max_intervals,
        )


DURATIONS: dict[str, Durations] = {
    "range": Durations(800.0, 10, 20.0, 5),
    "point": Durations(800.0, 200, 30.0, 5),
    "freq": Durations(450.0, 20, 15.0, 7, max_intervals=None),
    "trend": Durations(1700.0, 800, 100.0, 50),
    "flat-trend": Durations(1700.0, 800, 100.0, 50),
}
ABNORMAL_SLOPES: dict[str, tuple[float, float]] = {"trend": (6.0, 20.0), "flat-trend": (4.5, 6.0)}
NORMAL_SLOPE = 3.0


def _range(rng: np.random.Generator, length: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    x = rng.normal(0.0, 0.1, length)
    intervals = DURATIONS["range"].sample(rng, length)
    for start, end in intervals:
        sign = 1.0 if rng.integers(0, 2) == 1 else -1.0
        x[start:end] += sign * rng.uniform(0.5, 0.8, end - start)
    return x, intervals


def _point(rng: np.random.Generator, length: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    x = np.sin(2 * np.pi * 0.03 * np.arange(length))
    intervals = DURATIONS["point"].sample(rng, length)
    for start, end in intervals:
        x[start:end] = rng.normal(0.0, 0.5, end - start)
    return x, intervals


def _freq(rng: np.random.Generator, length: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    frequency = np.full(length, 0.03)
    intervals = DURATIONS["freq"].sample(rng, length)
    for start, end in intervals:
        frequency[start:end] *= 3.0 if rng.random() < 0.5 else 1.0 / 3.0
    return np.sin(2 * np.pi * np.cumsum(frequency)), intervals


def _trend(category: str):
    def generate(rng: np.random.Generator, length: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        slopes = np.full(length, NORMAL_SLOPE)
        intervals = DURATIONS[category].sample(rng, length)
        low, high = ABNORMAL_SLOPES[category]
        for start, end in intervals:
            slopes[start:end] = rng.uniform(low, high)
        steps = slopes / length
        steps[0] = 0.0
        x = np.sin(2 * np.pi * 0.02 * np.arange(length)) + np.cumsum(steps)
        return 2.0 * (x - x.min()) / (x.max() - x.min()) - 1.0, intervals

    return generate


_BASE = {"range": _range, "point": _point, "freq": _freq, "trend": _trend("trend"), "flat-trend": _trend("flat-trend")}


def generate_anomllm(rng: np.random.Generator, category: str, length: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(values, intervals) of one AnomLLM series of ``category``; ``noisy-X`` adds N(0, 0.08) to X."""
    if category not in ANOMLLM_CATEGORIES:
        raise ValueError(f"unknown AnomLLM category {category!r}; known: {', '.join(ANOMLLM_CATEGORIES)}")
    values, intervals = _BASE[category.removeprefix("noisy-")](rng, length)
    if category.startswith("noisy-"):
        values = values + rng.normal(0.0, NOISE_STD, length)
    return values, intervals
