"""``anomseer-eval`` / ``python -m verl_anomseer.eval``: score a model or detector on a test parquet.

Writes ``OUT/predictions.jsonl`` (one line per series and seed, resumable), ``OUT/report.md``,
``OUT/report.csv``, ``OUT/run.json`` and PNG plots. Bad arguments or input: a one-line error, exit code 2,
before any work starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verl_anomseer.eval.backends import BACKENDS, DETECTORS, Decoding, make_backend
from verl_anomseer.eval.errors import BackendError, EvalSetupError
from verl_anomseer.scoring.answer import DEFAULT_PARSER, PARSERS

PROG = "anomseer-eval"


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


class UsageError(Exception):
    """A bad command line (reported as one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Score a model or a classical detector on a test parquet with the training "
                "reward: per-sample JSONL (resumable), the paper's table (report.md, report.csv) and plots.")
    p.add_argument("--data", required=True, type=Path, help="test parquet, as written by data_prep/build_expcot.py")
    p.add_argument("--backend", required=True, choices=BACKENDS)
    p.add_argument("--out", required=True, type=Path, help="output folder (created; a rerun resumes it)")
    p.add_argument("--model", help="hf/vllm: checkpoint path or name; openai: the served model name")
    p.add_argument("--detector", choices=DETECTORS, help="with --backend detector")
    p.add_argument("--parser", choices=sorted(PARSERS), default=DEFAULT_PARSER,
                   help="answer parser: strict (the authors' rules, default) or lenient (see docs/scoring.md)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed (sampling or iforest)")
    p.add_argument("--temperature", type=_non_negative_float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=_positive(int), default=1024)
    p.add_argument("--batch-size", type=_positive(int), default=8, help="hf/vllm prompts per generate call")
    p.add_argument("--device", default="auto", help="hf: cpu, cuda, cuda:1, ... (auto: cuda if available)")
    p.add_argument("--workers", type=_positive(int), default=1, help="detector: parallel processes")
    p.add_argument("--limit", type=_positive(int), help="evaluate only the first N rows")
    p.add_argument("--concurrency", type=_positive(int), default=4, help="openai: parallel requests")
    p.add_argument("--rate-limit", type=_positive(float), help="openai: max requests per second")
    p.add_argument("--max-retries", type=int, default=5, help="openai: retries per request")
    p.add_argument("--timeout", type=_positive(float), default=120.0, help="openai: seconds per request")
    return p


def _validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.backend == "detector" and not args.detector:
        p.error("--backend detector needs --detector {" + ",".join(DETECTORS) + "}")
    if args.backend != "detector" and args.detector:
        p.error("--detector is only valid with --backend detector")
    if args.backend in ("hf", "vllm", "openai") and not args.model:
        p.error(f"--backend {args.backend} needs --model")
    if not 0 < args.top_p <= 1:
        p.error(f"--top-p must be in (0, 1], got {args.top_p}")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds has duplicates: {args.seeds}")
    if args.backend != "detector" and args.temperature == 0 and len(args.seeds) > 1:
        p.error("greedy decoding (--temperature 0) is deterministic: several --seeds need --temperature > 0")
    if args.max_retries < 0:
        p.error("--max-retries must be >= 0")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} exists and is not a folder")


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    try:
        args = p.parse_args(argv)
        _validate(p, args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from verl_anomseer.data.build import file_sha256
    from verl_anomseer.eval.runner import (
        PREDICTIONS,
        check_run_settings,
        record_run_settings,
        run_backend,
        write_report,
    )
    from verl_anomseer.eval.samples import load_samples
    from verl_anomseer.eval.store import PredictionStore

    decoding = Decoding(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    try:
        samples = load_samples(args.data, limit=args.limit)
        backend = make_backend(args.backend, model=args.model, detector=args.detector, decoding=decoding,
                               device=args.device, batch_size=args.batch_size, workers=args.workers,
                               concurrency=args.concurrency, rate_limit=args.rate_limit,
                               max_retries=args.max_retries, timeout=args.timeout)
        run_settings = {**backend.settings, "data_sha256": file_sha256(args.data), "parser": args.parser}
        check_run_settings(args.out, run_settings)
        store = PredictionStore(args.out / PREDICTIONS)
        backend.check()
        args.out.mkdir(parents=True, exist_ok=True)
        record_run_settings(args.out, run_settings)
        written = run_backend(samples, backend, store, args.seeds, args.parser)
        settings = ", ".join(f"{k}={v}" for k, v in sorted(backend.settings.items()))
        notes = [f"data: `{args.data.name}` ({len(samples)} series), seeds: {args.seeds}", f"settings: {settings}",
                 (f"scoring: the training reward (verl_anomseer.scoring.reward.compute_score) with the "
                  f"`{args.parser}` parser; an anomaly-free series answered with [] scores 1 on every localization "
                  "metric")]
        write_report(args.out, store.records, samples, args.seeds, notes)
    except EvalSetupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BackendError as exc:
        print(f"{PROG}: error: {exc}; the predictions written so far are kept, rerun the same command to resume",
              file=sys.stderr)
        return 1
    print(f"{PROG}: {written} new prediction(s); report in {args.out}", file=sys.stderr)
    return 0
