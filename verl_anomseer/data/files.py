"""Imported files as windows and rows: the ``--input`` options shared by the builder and ``verl_anomseer.detect``.

A file (``series.files.read_series_file``) gives one series of all its value columns (a multivariate series is
plotted as stacked panels, labelled by the union over channels), or, when its labels are per channel, one
univariate series per column. Each series is cut into windows (``series.windows``), plotted in the AnomLLM
style on one scale per channel, and explained by a clean ExpCoT trace (the probes see the plotted values).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from verl_anomseer.expcot import MIN_LENGTH, clean_trace
from verl_anomseer.series.files import FILLS, FileError, SeriesFile, read_intervals_file, read_series_file
from verl_anomseer.series.prompt import build_prompt
from verl_anomseer.series.taxonomy import FILES_SUITE, NORMAL
from verl_anomseer.series.windows import plot_scale, to_plot_range, window_intervals, window_starts

DEFAULT_WINDOW = 1000  # the AnomLLM series length


@dataclass(frozen=True)
class SeriesPart:
    """One series of a file: its columns, plotted values ``(channels, rows)``, scale, and label mask (or None)."""

    file: str
    columns: tuple[str, ...]
    plot_values: np.ndarray
    center: tuple[float, ...]
    half: tuple[float, ...]
    mask: np.ndarray | None

    @property
    def key(self) -> str:
        """``<file>/<columns joined by +>``: the stable name of this series."""
        return f"{self.file}/{'+'.join(self.columns)}"

    @property
    def rows(self) -> int:
        return int(self.plot_values.shape[1])


@dataclass(frozen=True)
class FileWindow:
    """One window of a :class:`SeriesPart`: rows ``[start, end)``; ``intervals`` in window coordinates."""

    part: SeriesPart
    start: int
    end: int
    intervals: tuple[tuple[int, int], ...] | None
    label: str | None
    split: str
    index: int

    @property
    def values(self) -> np.ndarray:
        """The plotted values ``(channels, end - start)``."""
        return self.part.plot_values[:, self.start : self.end]

    @property
    def series_id(self) -> str:
        return f"{FILES_SUITE}/{self.part.key}/{self.start:09d}"

    @property
    def source(self) -> dict:
        part = self.part
        return {
            "file": part.file,
            "columns": list(part.columns),
            "offset": self.start,
            "channels": len(part.columns),
            "labelled": self.intervals is not None,
            "center": list(part.center),
            "half": list(part.half),
        }


def series_parts(sf: SeriesFile) -> list[SeriesPart]:
    """The series of a file: all columns together, or one per column when the labels are per channel."""
    groups = [[c] for c in sf.columns] if sf.per_channel else [list(sf.columns)]
    parts = []
    for columns in groups:
        index = [sf.columns.index(c) for c in columns]
        values = sf.values[:, index]
        center, half = plot_scale(values)
        mask = sf.label_mask(columns[0] if sf.per_channel else None)
        parts.append(
            SeriesPart(
                sf.name,
                tuple(columns),
                to_plot_range(values, center, half).T.copy(),
                tuple(map(float, center)),
                tuple(map(float, half)),
                mask,
            )
        )
    return parts


def part_windows(
    part: SeriesPart,
    window: int,
    stride: int,
    allow_short: bool,
    split: str = "test",
    anomaly_class: str | None = None,
    first_index: int = 0,
) -> list[FileWindow]:
    """The windows of ``part`` (``series.windows.window_starts``) with their labels and class."""
    out = []
    for k, (start, end) in enumerate(window_starts(part.rows, window, stride, allow_short)):
        if part.mask is None:
            intervals, label = None, None
        else:
            intervals = tuple(window_intervals(part.mask, start, end))
            label = anomaly_class if intervals else NORMAL
        out.append(FileWindow(part, start, end, intervals, label, split, first_index + k))
    return out


def window_trace(values: np.ndarray, columns) -> str:
    """The clean ExpCoT of a window: one trace, or one per channel under a ``[Channel k: name]`` heading."""
    if len(values) == 1:
        return clean_trace(values[0])
    return "\n".join(
        f"[Channel {k + 1}: {name}]\n{clean_trace(row)}" for k, (row, name) in enumerate(zip(values, columns))
    )


def window_prompt(w: FileWindow) -> str:
    return build_prompt(w.end - w.start, len(w.part.columns))


# ---- the command-line options shared by the builder (--suite files) and verl_anomseer.detect ----------------


def add_input_options(p: argparse.ArgumentParser, default_stride: str, positional: bool = False) -> None:
    """The inputs (``--input``, or positional) and the file options.

    ``default_stride`` is what ``--stride`` defaults to."""
    what = "CSV, TSV, Parquet, NPY or UCR .txt files"
    if positional:
        p.add_argument("input", nargs="+", metavar="INPUT", help=what)
    else:
        p.add_argument("--input", nargs="+", metavar="PATH", help=what)
    p.add_argument(
        "--value-columns",
        nargs="+",
        metavar="COL",
        help="value columns (default: every numeric column but the label and time columns)",
    )
    p.add_argument("--label-column", metavar="COL", help="0/1 label column (default: label, is_anomaly or anomaly)")
    p.add_argument(
        "--intervals",
        metavar="JSON",
        help='labels as {"<file name>": [[start, end], ...]} '
        'or {"<file name>": {"<column>": [[start, end], ...]}} (rows, end exclusive)',
    )
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="window length in rows (default 1000)")
    p.add_argument("--stride", type=int, help=f"rows between window starts (default: {default_stride})")
    p.add_argument(
        "--allow-short", action="store_true", help="a series shorter than --window becomes one window of its own length"
    )
    p.add_argument("--fill", choices=FILLS, help="how to fill NaN or infinite values (default: refuse them)")


def check_window_options(args: argparse.Namespace, default_stride: int) -> None:
    """Fill ``args.stride``; raises ``ValueError`` with a one-line message on a bad size."""
    if args.window < MIN_LENGTH:
        raise ValueError(f"--window {args.window} is too short for the ExpCoT probes; use at least {MIN_LENGTH}")
    args.stride = default_stride if args.stride is None else args.stride
    if not 1 <= args.stride:
        raise ValueError(f"--stride must be a positive integer, got {args.stride}")


def load_inputs(args: argparse.Namespace) -> list[SeriesFile]:
    """Read every ``--input`` file with the file options; raises ``FileError`` (one line) on bad input."""
    names = [p.rsplit("/", 1)[-1] for p in args.input]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileError(f"two inputs share the file name {duplicates[0]}; rows are keyed by file name")
    intervals = read_intervals_file(args.intervals) if args.intervals else None
    if intervals is not None:
        unknown = sorted(set(intervals) - set(names))
        if unknown:
            raise FileError(f"{args.intervals}: names {unknown[0]!r}, which is not an --input file name")
    files = [read_series_file(p, args.value_columns, args.label_column, intervals, args.fill) for p in args.input]
    for sf in files:
        if sf.rows < MIN_LENGTH:
            raise FileError(f"{sf.name}: {sf.rows} rows, fewer than the {MIN_LENGTH} the ExpCoT probes need")
        try:
            window_starts(sf.rows, args.window, args.stride, args.allow_short)
        except ValueError as exc:
            raise FileError(f"{sf.name}: {exc}") from exc
    return files


def input_notes(files: list[SeriesFile]) -> list[str]:
    """One line per filled or constant input, to print: what the user should know before reading results."""
    notes = []
    for sf in files:
        if sf.filled:
            notes.append(f"{sf.name}: filled {sf.filled} NaN or infinite value(s)")
        for column in sf.constant_columns():
            notes.append(f"{sf.name}: column {column!r} is constant; no anomaly can be seen in it")
    return notes
