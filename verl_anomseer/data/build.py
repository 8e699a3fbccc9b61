"""The data builder: series -> GT-free plot -> ExpCoT -> rows -> ``DIR/{train,test}.parquet`` + ``manifest.json``.

``python data_prep/build_expcot.py --out DIR [...]`` (or ``main(argv)``, which returns the exit code: 0 on
success, 2 on bad arguments with a one-line error). Sample ``i`` of a split depends only on
(seed, suite, category, split, i), so the rows are byte-identical whatever ``--workers``. Everything is
written into a temporary sibling directory and moved into place with ``os.replace``: an interrupted build
leaves no partial output, and an existing ``--out`` is only replaced with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

import verl_anomseer
from verl_anomseer.cli_args import OneLineParser, UsageError
from verl_anomseer.data.files import (
    FileWindow,
    add_input_options,
    check_window_options,
    input_notes,
    load_inputs,
    part_windows,
    series_parts,
    window_prompt,
    window_trace,
)
from verl_anomseer.data.schema import EXPCOT_MODES, ROW_SCHEMA, SPLITS, make_row, make_window_row
from verl_anomseer.expcot import MIN_LENGTH as PROBE_MIN_LENGTH
from verl_anomseer.expcot import clean_trace, faithful_trace, stumpy_cache
from verl_anomseer.fileio import file_sha256
from verl_anomseer.parallel import ordered_map
from verl_anomseer.series.files import FileError
from verl_anomseer.series.generators import DEFAULT_LENGTH, MIN_GENERATOR_LENGTH, generate
from verl_anomseer.series.prompt import build_prompt
from verl_anomseer.series.render import render_panels_png, render_png
from verl_anomseer.series.taxonomy import ANOMALY_CLASSES, CLASSES, FILES_SUITE, SUITES

MIN_LENGTH = max(PROBE_MIN_LENGTH, MIN_GENERATOR_LENGTH)
DEFAULT_SEED = 3407  # the authors' training seed; each split is its own stream of it
DEFAULT_PER_CATEGORY = 400  # the paper's data: 8 categories x 400 train and 8 x 400 test series


@dataclass(frozen=True)
class Sample:
    """The key of one row: everything its content is derived from."""

    suite: str
    category: str
    split: str
    index: int
    seed: int
    length: int
    expcot_mode: str


def make_sample_row(sample: Sample | FileWindow) -> dict:
    """Generate (or take an imported window), render and explain one sample; a clean trace sees only the values."""
    if isinstance(sample, FileWindow):
        return make_window_row(
            sample,
            render_panels_png(sample.values),
            window_prompt(sample),
            window_trace(sample.values, sample.part.columns),
        )
    series = generate(sample.suite, sample.category, sample.index, sample.seed, sample.length, split=sample.split)
    if sample.expcot_mode == "clean":
        expcot = clean_trace(series.values)
    else:
        expcot = faithful_trace(series.values, series.category, series.intervals, series.label)
    png = render_png(series.values)
    return make_row(series, sample.split, sample.index, png, build_prompt(sample.length), expcot, sample.expcot_mode)


def _init_worker() -> None:
    """Per process, before any stumpy call: its persistent JIT cache."""
    stumpy_cache.enable()


def iter_rows(
    samples: Sequence[Sample | FileWindow], workers: int = 1, progress: bool = True, ray_address: str | None = None
) -> Iterator[dict]:
    """The rows of ``samples`` in order, computed here, by ``workers`` spawned processes, or as Ray tasks on the
    cluster at ``ray_address`` (``verl_anomseer.parallel.ordered_map``): the same rows whichever way."""
    _init_worker()
    bar = tqdm(total=len(samples), desc="building rows", unit="row", disable=not progress)
    try:
        for row in ordered_map(make_sample_row, samples, workers, ray_address, initializer=_init_worker):
            yield row
            bar.update()
    finally:
        bar.close()


def split_samples(
    suite: str, categories: Iterable[str], split: str, count: int, seed: int, length: int, expcot_mode: str
) -> list[Sample]:
    """The samples of one split, category by category, index 0 .. count - 1."""
    return [Sample(suite, c, split, i, seed, length, expcot_mode) for c in categories for i in range(count)]


def build_split(
    suite: str,
    categories: Iterable[str],
    split: str,
    count: int,
    seed: int = DEFAULT_SEED,
    length: int | None = None,
    expcot_mode: str = "faithful",
    workers: int = 1,
    progress: bool = False,
) -> list[dict]:
    """The parquet rows of one split (see ``verl_anomseer.data.schema``)."""
    length = DEFAULT_LENGTH[suite] if length is None else length
    return list(iter_rows(split_samples(suite, categories, split, count, seed, length, expcot_mode), workers, progress))


class SplitWriter:
    """Streams one split's rows into a parquet file (fixed row schema, row groups of ``batch_rows``) and counts them."""

    def __init__(self, path: Path, batch_rows: int = 256):
        self.path, self.batch_rows = path, batch_rows
        self.writer = pq.ParquetWriter(path, ROW_SCHEMA)
        self.buffer: list[dict] = []
        self.per_category: collections.Counter = collections.Counter()
        self.per_class: collections.Counter = collections.Counter()

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        self.per_category[row["extra_info"]["category"]] += 1
        self.per_class[row["reward_model"]["ground_truth"]["label"]] += 1
        if len(self.buffer) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            self.writer.write_table(pa.Table.from_pylist(self.buffer, schema=ROW_SCHEMA))
            self.buffer = []

    def close(self) -> None:
        self._flush()
        self.writer.close()

    def counts(self) -> dict:
        """Rows per category and per class, and the share of anomaly-free series."""
        total = sum(self.per_category.values())
        labelled = total - self.per_class[None]
        return {
            "rows": total,
            "per_category": dict(self.per_category),
            "per_class": {c: self.per_class[c] for c in CLASSES if self.per_class[c]},
            "anomaly_free_share": self.per_class["normal"] / labelled if labelled else 0.0,
            "unlabelled": self.per_class[None],
        }


def _versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import scipy
    import stumpy

    return {
        "verl_anomseer": verl_anomseer.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
        "pyarrow": pa.__version__,
        "stumpy": stumpy.__version__,
    }


def format_summary(counts: dict[str, dict]) -> str:
    """A plain-text table: rows per category and per class for each split, and the anomaly-free share."""
    lines = []
    for split, c in counts.items():
        lines.append(f"{split}: {c['rows']} rows, anomaly-free share {c['anomaly_free_share']:.1%}")
        lines.append("  per category: " + ", ".join(f"{k} {v}" for k, v in c["per_category"].items()))
        lines.append("  per class:    " + ", ".join(f"{k} {v}" for k, v in c["per_class"].items()))
        if c.get("unlabelled"):
            lines.append(f"  unlabelled:   {c['unlabelled']} (answered by the evaluation, not scored)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="build_expcot", description="Build the AnomSeer parquet data: series, GT-free plots, ExpCoT traces."
    )
    p.add_argument(
        "--suite",
        choices=sorted([*SUITES, FILES_SUITE]),
        default="anomllm",
        help="generator suite, or files: import --input files (see docs/files.md)",
    )
    p.add_argument("--categories", nargs="+", help="categories of the suite (space- or comma-separated; default: all)")
    p.add_argument("--train-per-category", type=int, default=DEFAULT_PER_CATEGORY)
    p.add_argument("--test-per-category", type=int, default=DEFAULT_PER_CATEGORY)
    p.add_argument("--length", type=int, help="series length (default: 1000 for anomllm, 400 for vta)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--expcot-mode", choices=EXPCOT_MODES, default="faithful")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the rows as Ray tasks on the cluster at ADDRESS (auto, "
        "HOST:PORT, ray://...) or on a new local one (local); same rows as --workers",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="output directory (train.parquet, test.parquet, manifest.json)"
    )
    add_input_options(p, default_stride="--window")
    p.add_argument("--split", choices=SPLITS, default="test", help="files: the split the imported rows belong to")
    p.add_argument(
        "--anomaly-class",
        choices=ANOMALY_CLASSES,
        help="files: the class of every labelled anomaly (the reward scores it; needed for labelled input)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _check_file_args(args: argparse.Namespace) -> None:
    """``--suite files``: read and window every input now, so bad input fails before anything is written."""
    if not args.input:
        raise UsageError("--suite files needs --input PATH [PATH ...]")
    try:
        check_window_options(args, default_stride=args.window)
        files = load_inputs(args)
    except (FileError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    unlabelled = [sf.name for sf in files if not sf.labelled]
    if unlabelled and args.split == "train":
        raise UsageError(f"{unlabelled[0]} has no labels; unlabelled rows can only be built as --split test")
    anomalous = [sf.name for sf in files if sf.labelled and sf.label_mask().any()]
    if anomalous and args.anomaly_class is None:
        raise UsageError(
            f"{anomalous[0]} is labelled; pass --anomaly-class CLASS (one of "
            f"{', '.join(ANOMALY_CLASSES)}), the class the reward scores for its anomalies"
        )
    args.windows = []
    for part in (part for sf in files for part in series_parts(sf)):
        args.windows += part_windows(
            part,
            args.window,
            args.stride,
            args.allow_short,
            args.split,
            args.anomaly_class,
            first_index=len(args.windows),
        )
    args.notes = input_notes(files)


def _check_generator_args(args: argparse.Namespace) -> None:
    if args.input:
        raise UsageError("--input needs --suite files")
    known = SUITES[args.suite]
    if args.categories is None:
        args.categories = list(known)
    else:
        args.categories = [c for item in args.categories for c in item.split(",") if c]
        unknown = [c for c in args.categories if c not in known]
        if unknown or not args.categories:
            given = ", ".join(unknown) or "(none given)"
            raise UsageError(f"unknown category {given} for suite {args.suite}; choose from {', '.join(known)}")
        if len(set(args.categories)) != len(args.categories):
            raise UsageError("--categories lists a category twice")
    for name in ("train_per_category", "test_per_category"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.length is None:
        args.length = DEFAULT_LENGTH[args.suite]
    if args.length < MIN_LENGTH:
        raise UsageError(f"--length {args.length} is too short for the ExpCoT probes; use at least {MIN_LENGTH}")
    if args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")


def _check_args(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {args.workers}")
    if args.suite == FILES_SUITE:
        _check_file_args(args)
    else:
        _check_generator_args(args)
    out = args.out = args.out.resolve()
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a directory")
        if not args.overwrite:
            raise UsageError(f"--out {out} already exists; pass --overwrite to replace it")
        if out == Path.cwd() or out in Path.cwd().parents:
            raise UsageError(f"--out {out} contains the working directory; choose a dataset directory")
        if any(out.iterdir()) and not (out / "manifest.json").is_file():
            raise UsageError(f"--out {out} is not a dataset from this builder (no manifest.json); remove it yourself")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the parent of --out {out}: {e.strerror}") from e
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: directory {parent} is not writable")


def _publish(staging: Path, out: Path) -> None:
    """Move the finished ``staging`` directory to ``out``, replacing an old ``out`` only at the last moment."""
    if out.exists():
        trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, trash / out.name)
        os.replace(staging, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, out)


def run(args: argparse.Namespace) -> dict:
    """Build both splits (``--suite files``: the ``--split``) into ``args.out`` atomically; returns the manifest."""
    if args.suite == FILES_SUITE:
        samples, splits = args.windows, (args.split,)
    else:
        sizes = {"train": args.train_per_category, "test": args.test_per_category}
        splits = SPLITS
        samples = [
            s
            for split in SPLITS
            for s in split_samples(
                args.suite, args.categories, split, sizes[split], args.seed, args.length, args.expcot_mode
            )
        ]
    out = args.out
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        writers = {split: SplitWriter(staging / f"{split}.parquet") for split in splits}
        for row in iter_rows(samples, args.workers, progress=not args.no_progress, ray_address=args.ray):
            writers[row["extra_info"]["split"]].add(row)
        for writer in writers.values():
            writer.close()
        manifest = {
            "args": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k not in ("no_progress", "windows", "notes")
            },
            "versions": _versions(),
            "counts": {split: w.counts() for split, w in writers.items()},
            "sha256": {w.path.name: file_sha256(w.path) for w in writers.values()},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: 0 on success, 2 on a bad command line (one line on stderr)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        _check_args(args)
    except UsageError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    for note in getattr(args, "notes", []):
        print(f"{parser.prog}: note: {note}", file=sys.stderr)
    manifest = run(args)
    print(format_summary(manifest["counts"]))
    print(f"wrote {args.out}/{', '.join(manifest['sha256'])}, manifest.json")
    return 0
