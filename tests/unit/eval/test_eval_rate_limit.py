"""The openai backend's rate limiter, on a fake clock."""

from __future__ import annotations

from verl_anomseer.eval.backends import openai as openai_backend


def test_acquisitions_are_spaced_by_the_interval(monkeypatch):
    clock = {"now": 100.0}
    starts = []
    monkeypatch.setattr(openai_backend.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(openai_backend.time, "sleep", lambda s: clock.__setitem__("now", clock["now"] + s))
    limiter = openai_backend.RateLimiter(per_second=4.0)
    for i in range(5):
        if i == 3:
            clock["now"] += 2.0  # idle time is not banked as a burst
        limiter.acquire()
        starts.append(clock["now"])
    assert starts == [100.0, 100.25, 100.5, 102.5, 102.75]


def test_unlimited_never_sleeps(monkeypatch):
    monkeypatch.setattr(openai_backend.time, "sleep", lambda s: (_ for _ in ()).throw(AssertionError(s)))
    limiter = openai_backend.RateLimiter(per_second=None)
    for _ in range(3):
        limiter.acquire()
