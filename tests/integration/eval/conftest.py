"""A fake OpenAI-compatible server on 127.0.0.1 for the openai backend's tests."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakeOpenAI:
    """Answers chat completions with ``answers[png bytes]``; the first ``failures`` POSTs get those statuses."""

    def __init__(self):
        self.answers: dict[bytes, str] = {}
        self.failures: list[int] = []
        self.broken_images: set[bytes] = set()  # always answered with HTTP 500
        self.models_status = 200
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(fake.models_status, {"data": [{"id": "fake-vl"}]})

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append({"payload": payload, "auth": self.headers.get("Authorization")})
                    status = fake.failures.pop(0) if fake.failures else 200
                if status != 200:
                    self._send(status, {"error": "busy"}, [("Retry-After", "0")])
                    return
                parts = payload["messages"][0]["content"]
                url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
                png = base64.b64decode(url.removeprefix("data:image/png;base64,"))
                if png in fake.broken_images:
                    self._send(500, {"error": "broken"})
                    return
                self._send(200, {"choices": [{"message": {"role": "assistant", "content": fake.answers[png]}}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_openai(monkeypatch):
    fake = FakeOpenAI()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def eval_parquet(tmp_path_factory):
    """A small test split built by the project's data builder: 4 categories x 3 series, length 400."""
    from verl_anomseer.data.build import main as build_main

    out = tmp_path_factory.mktemp("eval_data") / "data"
    argv = [
        "--out",
        str(out),
        "--categories",
        "range",
        "point",
        "freq",
        "noisy-trend",
        "--train-per-category",
        "1",
        "--test-per-category",
        "3",
        "--length",
        "400",
        "--workers",
        "1",
        "--no-progress",
    ]
    assert build_main(argv) == 0
    return out / "test.parquet"
