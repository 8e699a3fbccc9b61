"""``anomseer-eval`` / ``python -m verl_anomseer.eval``: score a model or detector on a test parquet.

Writes ``OUT/predictions.jsonl`` (one line per series and seed, resumable), ``OUT/report.md``,
``OUT/report.csv``, ``OUT/run.json`` and PNG plots. Bad arguments or input: a one-line error, exit code 2,
before any work starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verl_anomseer.cli_args import OneLineParser, UsageError, non_negative_float, positive
from verl_anomseer.eval.backends import BACKENDS, DETECTORS, Decoding, make_backend
from verl_anomseer.eval.backends.base import DTYPES
from verl_anomseer.eval.checkpoint import resolve_model
from verl_anomseer.eval.errors import BackendError, EvalSetupError
from verl_anomseer.fileio import file_sha256
from verl_anomseer.scoring.answer import DEFAULT_PARSER, PARSERS

PROG = "anomseer-eval"
_SAMPLING_FLAGS = ("--temperature", "--top-p", "--top-k", "--repetition-penalty")
_BACKEND_ONLY = {
    "--top-k": ("hf", "vllm"),
    "--repetition-penalty": ("hf", "vllm"),
    "--generation-config": ("hf", "vllm"),
    "--tensor-parallel-size": ("vllm",),
    "--max-model-len": ("vllm",),
}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Score a model or a classical detector on a test parquet with the training "
        "reward: per-sample JSONL (resumable), the paper's table (report.md, report.csv) and plots.",
    )
    p.add_argument("--data", required=True, type=Path, help="test parquet, as written by data_prep/build_expcot.py")
    p.add_argument("--backend", required=True, choices=BACKENDS)
    p.add_argument("--out", required=True, type=Path, help="output folder (created; a rerun resumes it)")
    p.add_argument(
        "--model",
        help="hf/vllm: checkpoint path or name, or a verl FSDP checkpoint folder (merged with "
        "verl.model_merger on first use); openai: the served model name",
    )
    p.add_argument("--detector", choices=DETECTORS, help="with --backend detector")
    p.add_argument(
        "--parser",
        choices=sorted(PARSERS),
        default=DEFAULT_PARSER,
        help="answer parser: strict (the authors' rules, default) or lenient (see docs/scoring.md)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed (sampling or iforest)")
    # sampling: unset flags take verl's validation-rollout defaults (Decoding), never the checkpoint's
    p.add_argument("--temperature", type=non_negative_float, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, help="default 1")
    p.add_argument("--top-k", type=int, help="hf/vllm: -1 = off (default)")
    p.add_argument("--repetition-penalty", type=positive(float), help="hf/vllm: default 1.0, as verl's rollout")
    p.add_argument(
        "--generation-config",
        action="store_true",
        help="hf/vllm: sample as the checkpoint's generation_config says instead (ignored by default)",
    )
    p.add_argument("--max-new-tokens", type=positive(int), default=1024)
    p.add_argument(
        "--batch-size",
        type=positive(int),
        help="prompts per generate call (hf: 8; vllm: all prompts of a seed in one call)",
    )
    p.add_argument("--dtype", choices=DTYPES, default="auto", help="hf/vllm weights (auto: the checkpoint's)")
    p.add_argument("--tensor-parallel-size", type=positive(int), help="vllm: GPUs per model (default 1)")
    p.add_argument("--max-model-len", type=positive(int), help="vllm: context length (default: the model's)")
    p.add_argument("--device", default="auto", help="hf: cpu, cuda, cuda:1, ... (auto: cuda if available)")
    p.add_argument("--workers", type=positive(int), default=1, help="detector: parallel processes")
    p.add_argument("--limit", type=positive(int), help="evaluate only the first N rows")
    p.add_argument("--concurrency", type=positive(int), default=4, help="openai: parallel requests")
    p.add_argument("--rate-limit", type=positive(float), help="openai: max requests per second")
    p.add_argument("--max-retries", type=int, default=5, help="openai: retries per request")
    p.add_argument("--timeout", type=positive(float), default=120.0, help="openai: seconds per request")
    return p


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.backend == "detector" and not args.detector:
        p.error("--backend detector needs --detector {" + ",".join(DETECTORS) + "}")
    if args.backend != "detector" and args.detector:
        p.error("--detector is only valid with --backend detector")
    if args.backend in ("hf", "vllm", "openai") and not args.model:
        p.error(f"--backend {args.backend} needs --model")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        p.error(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.top_k is not None and args.top_k != -1 and args.top_k < 1:
        p.error(f"--top-k must be -1 (off) or >= 1, got {args.top_k}")
    for flag, backends in _BACKEND_ONLY.items():
        if args.backend not in backends and getattr(args, _dest(flag)) not in (None, False):
            p.error(f"{flag} applies to --backend {' or '.join(backends)}")
    explicit = [flag for flag in _SAMPLING_FLAGS if getattr(args, _dest(flag)) is not None]
    if args.generation_config and explicit:
        p.error(f"--generation-config takes the sampling settings from the checkpoint: drop {', '.join(explicit)}")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds has duplicates: {args.seeds}")
    greedy = not args.generation_config and not args.temperature
    if args.backend != "detector" and greedy and len(args.seeds) > 1:
        p.error("greedy decoding (--temperature 0) is deterministic: several --seeds need --temperature > 0")
    if args.max_retries < 0:
        p.error("--max-retries must be >= 0")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} exists and is not a folder")


def _decoding(args: argparse.Namespace) -> Decoding:
    """The explicit sampling flags over Decoding's defaults."""
    given = {_dest(flag): getattr(args, _dest(flag)) for flag in _SAMPLING_FLAGS}
    return Decoding(
        **{k: v for k, v in given.items() if v is not None},
        max_new_tokens=args.max_new_tokens,
        use_generation_config=args.generation_config,
    )


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    try:
        args = p.parse_args(argv)
        _validate(p, args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from verl_anomseer.eval.runner import (
        PREDICTIONS,
        check_run_settings,
        record_run_settings,
        run_backend,
        write_report,
    )
    from verl_anomseer.eval.samples import load_samples
    from verl_anomseer.eval.store import PredictionStore

    try:
        samples = load_samples(args.data, limit=args.limit)
        model = resolve_model(args.model) if args.backend in ("hf", "vllm") else args.model
        backend = make_backend(
            args.backend,
            model=model,
            detector=args.detector,
            decoding=_decoding(args),
            device=args.device,
            batch_size=args.batch_size,
            workers=args.workers,
            concurrency=args.concurrency,
            rate_limit=args.rate_limit,
            max_retries=args.max_retries,
            timeout=args.timeout,
            dtype=args.dtype,
            tensor_parallel_size=args.tensor_parallel_size or 1,
            max_model_len=args.max_model_len,
        )
        run_settings = {**backend.settings, "data_sha256": file_sha256(args.data), "parser": args.parser}
        check_run_settings(args.out, run_settings)
        store = PredictionStore(args.out / PREDICTIONS)
        backend.check()
        args.out.mkdir(parents=True, exist_ok=True)
        record_run_settings(args.out, run_settings)
        written = run_backend(samples, backend, store, args.seeds, args.parser)
        settings = ", ".join(f"{k}={v}" for k, v in sorted(backend.settings.items()))
        notes = [
            f"data: `{args.data.name}` ({len(samples)} series), seeds: {args.seeds}",
            f"settings: {settings}",
            (
                f"scoring: the training reward (verl_anomseer.scoring.reward.compute_score) with the "
                f"`{args.parser}` parser; an anomaly-free series answered with [] scores 1 on every localization "
                "metric"
            ),
        ]
        write_report(args.out, store.records, samples, args.seeds, notes)
    except EvalSetupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BackendError as exc:
        print(
            f"{PROG}: error: {exc}; the predictions written so far are kept, rerun the same command to resume",
            file=sys.stderr,
        )
        return 1
    print(f"{PROG}: {written} new prediction(s); report in {args.out}", file=sys.stderr)
    return 0
