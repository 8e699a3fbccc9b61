"""Run a backend over the samples (skipping finished ones) and write the report files."""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from verl_anomseer.eval import plots
from verl_anomseer.eval.backends import Backend
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.records import score_record
from verl_anomseer.eval.report import failure_table, render_markdown, summary_table
from verl_anomseer.eval.samples import Sample
from verl_anomseer.eval.store import PredictionStore, record_key
from verl_anomseer.fileio import write_text
from verl_anomseer.scoring.answer import DEFAULT_PARSER

PREDICTIONS, RUN_FILE, REPORT_MD, REPORT_CSV = "predictions.jsonl", "run.json", "report.md", "report.csv"
PLOT_FILES = {"bars": "per_category.png", "confusion": "confusion.png", "gallery": "gallery.png"}


def check_run_settings(out: Path, settings: dict) -> None:
    """Refuse to resume a folder whose ``run.json`` records other settings."""
    path = out / RUN_FILE
    if path.exists():
        previous = json.loads(path.read_text())
        changed = sorted(k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k))
        if changed:
            diff = ", ".join(f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise EvalSetupError(
                f"--out {out} holds predictions made with other settings ({diff}); choose another --out folder"
            )


def record_run_settings(out: Path, settings: dict) -> None:
    """Write ``out/run.json`` (once; :func:`check_run_settings` guards later runs)."""
    if not (out / RUN_FILE).exists():
        write_text(out / RUN_FILE, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def run_backend(
    samples: list[Sample], backend: Backend, store: PredictionStore, seeds: list[int], parser: str = DEFAULT_PARSER
) -> int:
    """Score every (sample, seed) not yet in ``store`` with ``parser``, appending each record as soon as it is ready."""
    written = 0
    for seed in seeds:
        pending = [s for s in samples if (s.series_id, seed) not in store.done]
        if not pending:
            continue
        for sample, text in tqdm(
            backend.generate(pending, seed),
            total=len(pending),
            unit="series",
            desc=f"{backend.settings['backend']} seed {seed}",
        ):
            store.append(score_record(sample, text, seed, parser))
            written += 1
    return written


def write_report(out: Path, records: list[dict], samples: list[Sample], seeds: list[int], notes: list[str]) -> None:
    """``report.csv`` (long format), ``report.md`` and the PNG plots for the ``records`` of ``samples`` x ``seeds``."""
    wanted = {(s.series_id, seed) for s in samples for seed in seeds}
    records = sorted((r for r in records if record_key(r) in wanted), key=lambda r: (r["seed"], r["series_id"]))
    missing = len(wanted) - len(records)
    if missing:
        notes = [*notes, f"INCOMPLETE: {missing} of {len(wanted)} (series, seed) pairs have no prediction yet"]
    if not records:
        raise EvalSetupError(f"no predictions in {out / PREDICTIONS} for this data and these seeds")
    unlabelled = sum(not r.get("labelled", True) for r in records)
    if unlabelled:
        notes = [*notes, f"{unlabelled} answer(s) for unlabelled series are in {PREDICTIONS}, not scored"]
        records = [r for r in records if r.get("labelled", True)]
    if not records:
        write_text(out / REPORT_MD, "\n".join(["# Evaluation report", "", *[f"- {n}" for n in notes], ""]))
        return
    summary = summary_table(records)
    write_text(out / REPORT_CSV, summary.to_csv(index=False))
    write_text(out / REPORT_MD, render_markdown(summary, "Evaluation report", notes) + "\n" + failure_table(records))
    plots.category_bars(summary, out / PLOT_FILES["bars"])
    plots.class_confusion(records, out / PLOT_FILES["confusion"])
    chosen = plots.gallery_records(records)
    values = {s.series_id: s.values.T for s in samples}  # (rows, channels): one line per channel
    plots.gallery(chosen, values, out / PLOT_FILES["gallery"])
