"""OpenAI-compatible chat-completions backend (any endpoint: OpenAI, vLLM serve, SGLang, ...).

The base URL and key come from ``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``) and
``OPENAI_API_KEY``. The plot is sent as a base64 PNG data URL. Requests run on ``concurrency`` threads behind
a shared rate limit (at most ``rate_limit`` request starts per second); a failed request (connection error,
429, 5xx) is retried ``max_retries`` times with exponential backoff and jitter, honouring ``Retry-After``.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

import httpx

from verl_anomseer.eval.backends.base import Decoding, chat_content
from verl_anomseer.eval.errors import BackendError, EvalSetupError
from verl_anomseer.eval.samples import Sample

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class RateLimiter:
    """At most ``per_second`` acquisitions per second across threads (evenly spaced; ``None`` = unlimited)."""

    def __init__(self, per_second: float | None):
        self.interval = 1.0 / per_second if per_second else 0.0
        self.next_at = 0.0
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            now = time.monotonic()
            wait = self.next_at - now
            self.next_at = max(now, self.next_at) + self.interval
        if wait > 0:
            time.sleep(wait)


class OpenAIBackend:
    def __init__(
        self,
        model: str | None,
        decoding: Decoding,
        concurrency: int = 4,
        rate_limit: float | None = None,
        max_retries: int = 5,
        timeout: float = 120.0,
        backoff: float = 1.0,
    ):
        self.model, self.decoding = model, decoding
        self.base_url = os.environ.get("OPENAI_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
        self.concurrency, self.max_retries, self.backoff = concurrency, max_retries, backoff
        self.limiter = RateLimiter(rate_limit)
        key = os.environ.get("OPENAI_API_KEY", "")
        self.client = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"Authorization": f"Bearer {key}"} if key else {}
        )
        self.settings = {"backend": "openai", "model": model, "base_url": self.base_url, **decoding.as_dict()}

    def check(self) -> None:
        """Reach the endpoint once (``GET /models``): unreachable or a rejected key fails here, before any work."""
        if not self.model:
            raise EvalSetupError("--backend openai needs --model NAME (the model name the endpoint serves)")
        try:
            response = self.client.get("/models")
        except httpx.HTTPError as exc:
            raise EvalSetupError(
                f"cannot reach the endpoint {self.base_url} ({type(exc).__name__}: {exc}); "
                "set OPENAI_BASE_URL to a running OpenAI-compatible server"
            ) from exc
        if response.status_code in (401, 403):
            raise EvalSetupError(
                f"the endpoint {self.base_url} rejected the key (HTTP {response.status_code}); set OPENAI_API_KEY"
            )

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self.complete, s, seed): s for s in samples}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()

    def complete(self, sample: Sample, seed: int) -> str:
        """One chat completion for ``sample``; raises :class:`BackendError` once the retries are spent."""
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": self._content(sample)}],
            "temperature": self.decoding.temperature,
            "top_p": self.decoding.top_p,
            "max_tokens": self.decoding.max_new_tokens,
            "seed": seed,
        }
        for attempt in range(self.max_retries + 1):
            self.limiter.acquire()
            try:
                response = self.client.post("/chat/completions", json=payload)
                error = None if response.status_code not in RETRY_STATUS else f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                response, error = None, f"{type(exc).__name__}: {exc}"
            if error is None:
                if response.status_code != 200:
                    raise BackendError(f"{sample.series_id}: HTTP {response.status_code}: {response.text[:300]}")
                return response.json()["choices"][0]["message"].get("content") or ""
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, response))
        raise BackendError(f"{sample.series_id}: {error} after {self.max_retries + 1} attempts")

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            return float(retry_after)
        return self.backoff * 2**attempt * (0.5 + random.random() / 2)

    @staticmethod
    def _content(sample: Sample) -> list[dict]:
        url = "data:image/png;base64," + base64.b64encode(sample.image).decode("ascii")
        return [
            {"type": "image_url", "image_url": {"url": url}} if part["type"] == "image" else part
            for part in chat_content(sample.prompt)
        ]
