"""Test-set rows as evaluation samples, validated before any work starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from verl_anomseer.eval.errors import EvalSetupError


@dataclass(frozen=True)
class Sample:
    """One test series: what a backend sees (prompt text, PNG, values) and what the scorer needs."""

    series_id: str
    suite: str
    category: str
    data_source: str
    prompt: str
    image: bytes
    values: np.ndarray
    ground_truth: dict
    extra_info: dict = field(repr=False)

    @property
    def anomalous(self) -> bool:
        return len(self.ground_truth["intervals"]) > 0

    @property
    def labelled(self) -> bool:
        """False for an imported row without labels (label None): answered, never scored."""
        return self.ground_truth["label"] is not None


def load_samples(path: str | os.PathLike, limit: int | None = None) -> list[Sample]:
    """Read and validate ``path`` (rows of the schema in docs/data.md); the first ``limit`` rows if given.

    Raises :class:`EvalSetupError` naming the missing columns, the bad row and field, or a duplicate series_id.
    """
    from verl_anomseer.data.schema import COLUMNS, RowError, validate_row

    path = Path(path)
    if not path.is_file():
        raise EvalSetupError(f"--data {path}: no such file; build a test split with `python data_prep/build_expcot.py`")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for non-parquet input
        raise EvalSetupError(f"--data {path}: not a parquet file ({exc})") from exc
    missing = [c for c in COLUMNS if c not in schema.names]
    if missing:
        raise EvalSetupError(
            f"--data {path}: missing required column(s) {missing}; rows must follow the row schema "
            "of docs/data.md (build them with `python data_prep/build_expcot.py`)"
        )
    rows = pq.read_table(path, columns=list(COLUMNS)).to_pylist()
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise EvalSetupError(f"--data {path}: no rows to evaluate")
    samples, seen = [], set()
    for index, row in enumerate(rows):
        try:
            validate_row(row, index)
        except RowError as exc:
            raise EvalSetupError(f"--data {path}: {exc}") from exc
        sample = _sample(row)
        if sample.series_id in seen:
            raise EvalSetupError(f"--data {path}: row {index}: duplicate extra_info.series_id {sample.series_id!r}")
        seen.add(sample.series_id)
        samples.append(sample)
    return samples


def _values(row: dict) -> np.ndarray:
    """The series: 1-D, or ``(channels, rows)`` for an imported multivariate row."""
    values = np.asarray(row["series"], dtype=np.float64)
    source = row["extra_info"].get("source")
    return values.reshape(source["channels"], -1) if source and source["channels"] > 1 else values


def _sample(row: dict) -> Sample:
    info = row["extra_info"]
    return Sample(
        series_id=str(info["series_id"]),
        suite=str(info["suite"]),
        category=str(info["category"]),
        data_source=row["data_source"],
        prompt=row["prompt"][0]["content"],
        image=row["images"][0]["bytes"],
        values=_values(row),
        ground_truth=row["reward_model"]["ground_truth"],
        extra_info=info,
    )
