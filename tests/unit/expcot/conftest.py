"""Fixtures for the ExpCoT tests: stumpy's JIT paid once per session, and series with known anomalies."""

from __future__ import annotations

import numpy as np
import pytest

LENGTH = 1000


@pytest.fixture(scope="session", autouse=True)
def stumpy_jit():
    """Enable stumpy's persistent JIT cache and compile once, so each test pays milliseconds."""
    import stumpy

    from verl_anomseer.expcot import stumpy_cache

    stumpy_cache.enable()
    stumpy.stump(np.sin(np.arange(200) * 0.3), 20)


@pytest.fixture
def sine() -> np.ndarray:
    """A clean sine, AnomLLM's point/freq base signal (f = 0.03)."""
    return 0.8 * np.sin(2 * np.pi * 0.03 * np.arange(LENGTH))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
