"""Real series from files (no verl): read CSV / TSV / Parquet / NPY / UCR text, labels, gap filling.

Contract of :func:`read_series_file`: returns a :class:`SeriesFile` whose ``values`` is a finite float64
``(rows, channels)`` array and whose labels, when the file has any, are boolean masks over the same rows
(row 0 is the first data row, after any header). Every problem raises :class:`FileError` with a one-line
message naming the file and the fix; nothing is written.

- Formats by suffix: ``.csv``, ``.tsv``, ``.parquet``, ``.npy`` (1-D or ``(rows, channels)``), ``.txt``
  (whitespace-separated numbers, one channel, the UCR anomaly archive's files). Columns of headerless
  formats are named by their index: ``"0"``, ``"1"``, ...
- Labels, first match wins: an intervals mapping (``{"<file name>": [[s, e], ...]}`` for one series-level
  label, or ``{"<file name>": {"<column>": [[s, e], ...]}}`` for per-channel labels; end-exclusive rows);
  the ``label_column`` (only 0/1 values); a column named ``label``, ``is_anomaly`` or ``anomaly`` (any
  case: the TSB-AD and TimeEval conventions); a UCR anomaly archive name
  ``<id>_UCR_Anomaly_<name>_<train end>_<start>_<end>.<ext>``, read as the rows ``[start, end)``.
- Value columns: ``value_columns`` if given, else every numeric column except the label column and columns
  named ``timestamp``, ``time``, ``date`` or ``index``.
- Non-finite values are an error unless ``fill`` is ``linear`` (interpolate, edges take the nearest value),
  ``ffill`` (carry the last value forward, a leading gap takes the first value) or ``zero``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals

FORMATS = (".csv", ".tsv", ".parquet", ".npy", ".txt")
FILLS = ("linear", "ffill", "zero")
LABEL_NAMES = ("label", "is_anomaly", "anomaly")
TIME_NAMES = ("timestamp", "time", "date", "index")
UCR_NAME = re.compile(r"^\d+_UCR_Anomaly_.+_(\d+)_(\d+)_(\d+)$")


class FileError(ValueError):
    """Bad input data: the message is one line that names the file and what to change."""


@dataclass
class SeriesFile:
    """One input file's series: ``values`` ``(rows, channels)``, ``columns`` their names, and the labels.

    ``labels`` maps a channel name to its row mask for per-channel labels, or ``None`` (key) to one mask for
    the whole series; it is empty for an unlabelled file. ``filled`` counts the non-finite values replaced.
    """

    name: str
    path: Path
    columns: list[str]
    values: np.ndarray
    labels: dict[str | None, np.ndarray] = field(default_factory=dict)
    filled: int = 0

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def labelled(self) -> bool:
        return bool(self.labels)

    @property
    def per_channel(self) -> bool:
        return self.labelled and None not in self.labels

    def label_mask(self, column: str | None = None) -> np.ndarray | None:
        """The row mask of ``column`` (per-channel labels) or of the whole series (the union over channels)."""
        if not self.labels:
            return None
        if column is not None and column in self.labels:
            return self.labels[column]
        if None in self.labels:
            return self.labels[None]
        return np.logical_or.reduce(list(self.labels.values()))

    def constant_columns(self) -> list[str]:
        """Columns whose values never change: nothing can be seen in their plot."""
        return [c for c, column in zip(self.columns, self.values.T) if np.ptp(column) == 0]


def _fail(path: Path, problem: str) -> FileError:
    return FileError(f"{path.name}: {problem}")


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise _fail(path, f"unsupported file type {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise _fail(path, "no such file")
    try:
        if suffix in (".csv", ".tsv"):
            frame = pd.read_csv(path, sep="," if suffix == ".csv" else "\t")
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".txt":
            frame = pd.DataFrame({"0": np.loadtxt(path, dtype=np.float64, ndmin=1).ravel()})
        else:
            array = np.load(path, allow_pickle=False)
            if array.ndim not in (1, 2):
                raise _fail(path, f"expected a 1-D or (rows, channels) array, got shape {array.shape}")
            array = array.reshape(len(array), -1)
            frame = pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])])
    except FileError:
        raise
    except Exception as exc:  # pandas, pyarrow and numpy raise many types for unreadable input
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(path, f"cannot be read as {suffix[1:]} ({first})") from exc
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty or len(frame) == 0:
        raise _fail(path, "is empty (no data rows)")
    return frame


def _find_label_column(path: Path, frame: pd.DataFrame, label_column: str | None) -> str | None:
    if label_column is not None:
        if label_column not in frame.columns:
            raise _fail(path, f"no label column {label_column!r}; columns: {', '.join(frame.columns)}")
        return label_column
    found = [c for c in frame.columns if c.lower() in LABEL_NAMES]
    return found[0] if found else None


def _value_columns(path: Path, frame: pd.DataFrame, wanted: list[str] | None, label: str | None) -> list[str]:
    if wanted:
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise _fail(path, f"no value column {', '.join(map(repr, missing))}; columns: {', '.join(frame.columns)}")
        for column in wanted:
            if column == label:
                raise _fail(path, f"column {column!r} is the label column; it cannot also be a value column")
            if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
                raise _fail(path, f"value column {column!r} is not numeric (dtype {frame[column].dtype})")
        return list(wanted)
    columns = [
        c
        for c in frame.columns
        if c != label
        and c.lower() not in TIME_NAMES
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if not columns:
        raise _fail(path, "has no numeric value column; name them with --value-columns")
    return columns


def _label_mask(path: Path, column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if bad.size:
        raise _fail(
            path,
            f"label column {column.name!r} must hold only 0 and 1; row {bad[0]} has "
            f"{column.iloc[bad[0]]!r} ({bad.size} such rows)",
        )
    return values == 1.0


def _intervals_mask(path: Path, spans, rows: int, where: str) -> np.ndarray:
    if not isinstance(spans, list):
        raise _fail(path, f"intervals{where} must be a list of [start, end] pairs")
    for span in spans:
        ok = (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in span)
        )
        if not ok:
            raise _fail(path, f"intervals{where}: {span!r} is not an [int, int] pair")
        if not 0 <= span[0] < span[1] <= rows:
            raise _fail(path, f"intervals{where}: {span} lies outside the series (rows 0 to {rows}, end exclusive)")
    return intervals_to_mask(spans, rows)


def _labels_from_intervals(path: Path, entry, columns: list[str], rows: int) -> dict[str | None, np.ndarray]:
    if isinstance(entry, dict):
        unknown = [c for c in entry if c not in columns]
        if unknown:
            raise _fail(path, f"intervals name column(s) {unknown} that are not value columns {columns}")
        return {c: _intervals_mask(path, spans, rows, f"[{c!r}]") for c, spans in entry.items()}
    return {None: _intervals_mask(path, entry, rows, "")}


def ucr_interval(path: Path) -> tuple[int, int] | None:
    """``(start, end)`` rows of the anomaly a UCR anomaly archive file name encodes, or ``None``."""
    match = UCR_NAME.match(path.stem)
    if not match:
        return None
    start, end = int(match.group(2)), int(match.group(3))
    return (start, end) if start < end else None


def fill_gaps(values: np.ndarray, how: str) -> np.ndarray:
    """``values`` ``(rows, channels)`` with every non-finite entry replaced as ``how`` says (module docstring)."""
    frame = pd.DataFrame(np.where(np.isfinite(values), values, np.nan))
    if how == "zero":
        frame = frame.fillna(0.0)
    elif how == "ffill":
        frame = frame.ffill().bfill()
    elif how == "linear":
        frame = frame.interpolate(method="linear", limit_direction="both")
    else:
        raise ValueError(f"unknown fill {how!r}; choose from {FILLS}")
    return frame.to_numpy(dtype=np.float64)


def read_series_file(
    path: str | os.PathLike,
    value_columns: list[str] | None = None,
    label_column: str | None = None,
    intervals: dict | None = None,
    fill: str | None = None,
) -> SeriesFile:
    """Read one file into a checked :class:`SeriesFile` (module docstring); raises :class:`FileError`."""
    path = Path(path)
    frame = _read_frame(path)
    label = _find_label_column(path, frame, label_column)
    columns = _value_columns(path, frame, value_columns, label)
    try:
        values = frame[columns].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _fail(path, f"value columns {columns} do not convert to numbers ({exc})") from exc
    rows = len(values)
    bad = ~np.isfinite(values)
    filled = int(bad.sum())
    if filled and fill is None:
        row, col = np.argwhere(bad)[0]
        raise _fail(
            path,
            f"{filled} NaN or infinite value(s), the first in column {columns[col]!r} at row {row}; "
            f"pass --fill {{{','.join(FILLS)}}} to fill them",
        )
    if filled:
        if bad.all(axis=0).any():
            column = columns[int(np.flatnonzero(bad.all(axis=0))[0])]
            raise _fail(path, f"column {column!r} has no finite value to fill from")
        values = fill_gaps(values, fill)
    labels: dict[str | None, np.ndarray] = {}
    if intervals is not None and path.name in intervals:
        labels = _labels_from_intervals(path, intervals[path.name], columns, rows)
    elif label is not None:
        labels = {None: _label_mask(path, frame[label])}
    elif (span := ucr_interval(path)) is not None:
        if span[1] > rows:
            raise _fail(path, f"the UCR name's anomaly {list(span)} lies outside the series of {rows} rows")
        labels = {None: intervals_to_mask([span], rows)}
    return SeriesFile(path.name, path, columns, values, labels, filled)


def read_intervals_file(path: str | os.PathLike) -> dict:
    """The JSON intervals mapping (file name -> intervals or column -> intervals); raises :class:`FileError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"cannot be read as JSON ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise _fail(path, 'expected a JSON object {"<file name>": [[start, end], ...], ...}')
    return data


def as_intervals(mask: np.ndarray | None) -> list[tuple[int, int]]:
    """The label runs of a row mask (``[]`` for ``None``)."""
    return [] if mask is None else mask_to_intervals(mask)
