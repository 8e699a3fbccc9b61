"""``python -m verl_anomseer.detect INPUT ... (--detector D | --model M --backend B) --out DIR``.

Windows every input series (the builder's file options; ``--stride`` defaults to half a window, so each row
is seen twice), answers each window with the chosen backend, votes the answers back onto the file's rows and
writes ``anomalies.csv``, ``plots/<file>__<columns>.png`` and, for labelled input, ``report.md`` /
``report.csv``. Window answers go to ``windows.jsonl`` as they come (a rerun of the same command resumes; other
settings are refused). Bad input or arguments: one line, exit code 2, nothing written; a backend failing
mid-run: exit code 1, the answers so far kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from verl_anomseer.cli_args import OneLineParser, UsageError
from verl_anomseer.data import files as file_input  # the builder's file options and windows
from verl_anomseer.eval.backends import DETECTORS, Decoding, make_backend
from verl_anomseer.eval.errors import BackendError, EvalSetupError
from verl_anomseer.eval.samples import Sample
from verl_anomseer.fileio import file_sha256
from verl_anomseer.scoring.answer import DEFAULT_PARSER, PARSERS, parse_answer
from verl_anomseer.series.files import FileError, as_intervals
from verl_anomseer.series.taxonomy import FILES_SUITE
from verl_anomseer.series.windows import VOTE_THRESHOLD

PROG = "anomseer-detect"
WINDOWS = "windows.jsonl"
MODEL_BACKENDS = ("hf", "vllm", "openai")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Find anomalies in real series with a trained model or a classical detector: "
        "anomalies.csv in the file's rows, a plot per series, a report when the input is labelled.",
    )
    file_input.add_input_options(p, default_stride="half of --window", positional=True)
    p.add_argument("--out", required=True, type=Path, help="output folder (created; a rerun resumes it)")
    p.add_argument("--detector", choices=DETECTORS, help="a classical detector (no model needed)")
    p.add_argument("--model", help="a checkpoint (hf, vllm) or the served model name (openai)")
    p.add_argument("--backend", choices=MODEL_BACKENDS, help="with --model")
    p.add_argument(
        "--vote",
        type=float,
        default=VOTE_THRESHOLD,
        help="a row is anomalous when at least this share of the windows covering it flag it (0.5)",
    )
    p.add_argument("--seed", type=int, default=0, help="iforest's random state; the sampling seed of a model")
    p.add_argument("--parser", choices=sorted(PARSERS), default=DEFAULT_PARSER, help="how answers are read")
    p.add_argument("--temperature", type=float, default=0.0, help="model sampling temperature (0 = greedy)")
    p.add_argument("--max-new-tokens", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=8, help="hf/vllm prompts per generate call")
    p.add_argument("--device", default="auto", help="hf: cpu, cuda, cuda:1, ... (auto: cuda if available)")
    p.add_argument("--workers", type=int, default=1, help="detector: parallel processes")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="detector: run the windows as Ray tasks on the cluster at ADDRESS "
        "(auto, HOST:PORT, ray://...) or on a new local one (local); same answers as --workers",
    )
    p.add_argument("--concurrency", type=int, default=4, help="openai: parallel requests")
    p.add_argument("--timeout", type=float, default=120.0, help="openai: seconds per request")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _validate(args: argparse.Namespace) -> None:
    if (args.detector is None) == (args.model is None):
        raise UsageError("choose one of --detector D or --model M --backend B")
    if args.model is not None and args.backend is None:
        raise UsageError(f"--model needs --backend {{{','.join(MODEL_BACKENDS)}}}")
    if args.detector is not None and args.backend is not None:
        raise UsageError("--backend is for --model; a --detector needs none")
    if args.ray and args.detector is None:
        raise UsageError("--ray runs detector windows; a model backend batches on its own devices")
    if not 0 < args.vote <= 1:
        raise UsageError(f"--vote must be in (0, 1], got {args.vote}")
    for name in ("max_new_tokens", "batch_size", "workers", "concurrency"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.temperature < 0 or args.timeout <= 0:
        raise UsageError("--temperature must be >= 0 and --timeout > 0")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    try:
        file_input.check_window_options(args, default_stride=max(1, args.window // 2))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def window_sample(w: file_input.FileWindow, with_image: bool) -> Sample:
    """The evaluation ``Sample`` of a window (unlabelled as far as backends go; the PNG only for models)."""
    from verl_anomseer.series.render import render_panels_png

    values = w.values if len(w.part.columns) > 1 else w.values[0]
    return Sample(
        series_id=w.series_id,
        suite=FILES_SUITE,
        category=w.part.file,
        data_source=f"anomseer/{FILES_SUITE}/{w.part.file}",
        prompt=file_input.window_prompt(w),
        image=render_panels_png(w.values) if with_image else b"",
        values=values,
        ground_truth={"intervals": [], "label": None, "length": w.end - w.start},
        extra_info={"source": w.source},
    )


def window_record(w: file_input.FileWindow, text: str, seed: int, parser: str) -> dict:
    """The ``windows.jsonl`` line of a window's answer (intervals in window coordinates)."""
    parsed = parse_answer(text, w.end - w.start, parser)
    return {
        "series_id": w.series_id,
        "seed": int(seed),
        "file": w.part.file,
        "columns": list(w.part.columns),
        "start": w.start,
        "end": w.end,
        "text": text,
        "pred_intervals": [[int(s), int(e)] for s, e in (parsed.intervals or [])],
        "pred_label": parsed.label,
        "reason": parsed.reason,
    }


def _settings(args: argparse.Namespace, backend) -> dict:

    options = ("window", "stride", "allow_short", "fill", "value_columns", "label_column", "vote", "seed", "parser")
    return {
        **backend.settings,
        **{k: getattr(args, k) for k in options},
        "inputs": {Path(p).name: file_sha256(Path(p)) for p in args.input},
        "intervals_sha256": file_sha256(Path(args.intervals)) if args.intervals else None,
    }


def run(args: argparse.Namespace) -> int:
    """Everything after the argument checks; returns the exit code."""
    from verl_anomseer.detect import merge, outputs
    from verl_anomseer.eval.runner import check_run_settings, record_run_settings
    from verl_anomseer.eval.store import PredictionStore

    try:
        files = file_input.load_inputs(args)
    except FileError as exc:
        raise UsageError(str(exc)) from exc
    parts = [part for sf in files for part in file_input.series_parts(sf)]
    windows = [w for part in parts for w in file_input.part_windows(part, args.window, args.stride, args.allow_short)]
    decoding = Decoding(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    backend = make_backend(
        args.backend or "detector",
        model=args.model,
        detector=args.detector,
        decoding=decoding,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        ray_address=args.ray,
        concurrency=args.concurrency,
        rate_limit=None,
        max_retries=5,
        timeout=args.timeout,
    )
    settings = _settings(args, backend)
    check_run_settings(args.out, settings)
    backend.check()
    for note in file_input.input_notes(files):
        print(f"{PROG}: note: {note}", file=sys.stderr)
    (args.out / outputs.PLOTS).mkdir(parents=True, exist_ok=True)
    record_run_settings(args.out, settings)
    store = PredictionStore(args.out / WINDOWS)
    by_id = {w.series_id: w for w in windows}
    pending = [window_sample(w, args.model is not None) for w in windows if (w.series_id, args.seed) not in store.done]
    try:
        answers = backend.generate(pending, args.seed)
        for sample, text in tqdm(
            answers, total=len(pending), unit="window", desc=f"{PROG} windows", disable=args.no_progress
        ):
            store.append(window_record(by_id[sample.series_id], text, args.seed, args.parser))
    except BackendError as exc:
        print(f"{PROG}: error: {exc}; the answers so far are in {args.out / WINDOWS}, rerun to resume", file=sys.stderr)
        return 1

    records = {r["series_id"]: r for r in store.records if r["seed"] == args.seed}
    found, scores = {}, []
    for part in parts:
        answers = [
            merge.WindowAnswer(
                w.start,
                w.end,
                [tuple(i) for i in records[w.series_id]["pred_intervals"]],
                records[w.series_id]["pred_label"],
            )
            for w in windows
            if w.part is part
        ]
        spans = merge.merge_answers(part.rows, answers, args.vote)
        found[part.key] = (part, spans)
        truth = as_intervals(part.mask)
        outputs.plot_part(args.out, part, spans, truth)
        if part.mask is not None:
            scores.append(
                {
                    "file": part.file,
                    "column": "+".join(part.columns),
                    "rows": part.rows,
                    "true_intervals": len(truth),
                    "predicted_intervals": len(spans),
                    **merge.series_scores(spans, truth, part.rows),
                }
            )
    table = outputs.write_anomalies(args.out, found)
    written = [outputs.ANOMALIES, f"{outputs.PLOTS}/ ({len(parts)} plots)"]
    if scores:
        settings_text = ", ".join(f"{k}={v}" for k, v in sorted(backend.settings.items()))
        inputs = ", ".join(sf.name for sf in files)
        notes = [
            f"inputs: {inputs}; window {args.window}, stride {args.stride}, vote {args.vote}",
            f"settings: {settings_text}, parser {args.parser}, seed {args.seed}",
        ]
        outputs.write_report(args.out, scores, notes)
        written += [outputs.REPORT_MD, outputs.REPORT_CSV]
    print(
        f"{PROG}: {len(table)} anomalous interval(s) in {len(parts)} series; wrote {', '.join(written)} in {args.out}",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 on success, 2 on bad arguments or input (one line), 1 when a backend fails mid-run."""
    p = build_parser()
    try:
        args = p.parse_args(argv)
        _validate(args)
        return run(args)
    except (UsageError, EvalSetupError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
