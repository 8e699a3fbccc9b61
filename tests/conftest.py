"""Shared test setup: offline environment, local Ray on the loopback, hypothesis profiles, the tiny local VL model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

from verl_anomseer.cluster import LOOPBACK_ENV

for _name, _value in LOOPBACK_ENV.items():  # the tests' local Ray clusters listen on 127.0.0.1 only
    os.environ.setdefault(_name, _value)

# hypothesis profiles (HYPOTHESIS_PROFILE to choose), for property tests that set no example count of their own;
# those that do (the parsers' 10,000, ...) run it under both. `ci`, the default under CI=true: 1,000 examples,
# derandomized so that a CI run is reproducible. `dev`, the default elsewhere: 200, from a random seed.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci", deadline=None, max_examples=1_000, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile("dev", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="session")
def tiny_vl_model(tmp_path_factory):
    """A tiny random Qwen2.5-VL (model, tokenizer, processor) built locally, no hub access."""
    from verl_anomseer.cpu.tiny_model import build_tiny_qwen25vl

    return build_tiny_qwen25vl(tmp_path_factory.mktemp("tiny_qwen25vl"))
