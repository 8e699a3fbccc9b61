"""The openai backend against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from verl_anomseer.eval.backends.base import Decoding
from verl_anomseer.eval.backends.openai import OpenAIBackend
from verl_anomseer.eval.errors import BackendError, EvalSetupError
from verl_anomseer.eval.samples import Sample

pytestmark = pytest.mark.integration


def sample(i: int) -> Sample:
    return Sample(
        series_id=f"s{i}",
        suite="anomllm",
        category="range",
        data_source="anomseer/anomllm/range",
        prompt=f"<image>\nSeries {i} of length 100.",
        image=f"PNG-{i}".encode(),
        values=np.zeros(100),
        ground_truth={"intervals": [], "label": "normal", "length": 100},
        extra_info={},
    )


def test_generate_sends_image_and_retries_transient_errors(fake_openai):
    samples = [sample(i) for i in range(5)]
    fake_openai.answers = {s.image: f"<answer>[[{i}, {i + 1}]]</answer>" for i, s in enumerate(samples)}
    fake_openai.failures = [429, 503]
    backend = OpenAIBackend("fake-vl", Decoding(), concurrency=2, backoff=0.0)
    backend.check()
    got = {s.series_id: text for s, text in backend.generate(samples, seed=3)}
    assert got == {f"s{i}": f"<answer>[[{i}, {i + 1}]]</answer>" for i in range(5)}
    assert len(fake_openai.requests) == 7  # 5 answers + 2 retried failures
    first = fake_openai.requests[0]
    assert first["auth"] == "Bearer test-key"
    payload = first["payload"]
    assert (payload["model"], payload["temperature"], payload["seed"]) == ("fake-vl", 0.0, 3)
    texts = [p["text"] for p in payload["messages"][0]["content"] if p["type"] == "text"]
    assert texts and all("<image>" not in t for t in texts)


def test_retries_exhausted_raise(fake_openai):
    s = sample(0)
    fake_openai.failures = [500, 500, 500]
    backend = OpenAIBackend("fake-vl", Decoding(), max_retries=2, backoff=0.0)
    with pytest.raises(BackendError, match="HTTP 500 after 3 attempts"):
        list(backend.generate([s], seed=0))


def test_unreachable_endpoint_fails_in_check(monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    with pytest.raises(EvalSetupError, match="cannot reach the endpoint"):
        OpenAIBackend("m", Decoding(), timeout=5).check()


def test_rejected_key_fails_in_check(fake_openai):
    fake_openai.models_status = 401
    with pytest.raises(EvalSetupError, match="rejected the key"):
        OpenAIBackend("fake-vl", Decoding()).check()
