"""Prediction backends: each turns samples into raw answer texts.

A backend has ``check()`` (fail fast, before any work, with an :class:`EvalSetupError` naming the fix),
``generate(samples, seed)`` yielding ``(sample, text)`` pairs as they are ready, and ``settings`` (what
determines its outputs, recorded in ``run.json`` so a resume cannot mix two configurations).
"""

from __future__ import annotations

from verl_anomseer.eval.backends.base import Backend, Decoding

BACKENDS: tuple[str, ...] = ("hf", "vllm", "openai", "detector")
DETECTORS: tuple[str, ...] = ("probes", "discord", "iforest", "ksigma")


def make_backend(name: str, *, model: str | None, detector: str | None, decoding: Decoding, **options) -> Backend:
    """The backend ``name`` (imports its heavy dependencies only when chosen)."""
    if name == "detector":
        from verl_anomseer.eval.backends.detector import DetectorBackend

        return DetectorBackend(detector, workers=options["workers"], ray_address=options.get("ray_address"))
    if name == "hf":
        from verl_anomseer.eval.backends.hf import HFBackend

        return HFBackend(
            model,
            decoding,
            device=options["device"],
            batch_size=options.get("batch_size") or 8,
            dtype=options.get("dtype", "auto"),
        )
    if name == "vllm":
        from verl_anomseer.eval.backends.vllm import VLLMBackend

        return VLLMBackend(
            model,
            decoding,
            batch_size=options.get("batch_size"),
            dtype=options.get("dtype", "auto"),
            tensor_parallel_size=options.get("tensor_parallel_size", 1),
            max_model_len=options.get("max_model_len"),
        )
    if name == "openai":
        from verl_anomseer.eval.backends.openai import OpenAIBackend

        return OpenAIBackend(
            model,
            decoding,
            concurrency=options["concurrency"],
            rate_limit=options["rate_limit"],
            max_retries=options["max_retries"],
            timeout=options["timeout"],
        )
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")


__all__ = ["BACKENDS", "DETECTORS", "Backend", "Decoding", "make_backend"]
