"""What detection writes: ``anomalies.csv``, one plot per series, ``report.md`` / ``report.csv`` (labelled input).

Every file is written atomically (``fileio``). ``anomalies.csv`` columns: ``file, column, start, end, label``
(rows of the file, row 0 the first data row, end exclusive; ``column`` joins a multivariate series' columns
with ``+``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from verl_anomseer.data.files import SeriesPart
from verl_anomseer.detect.merge import SCORE_COLUMNS
from verl_anomseer.eval.plots import interval_legend, shade_intervals
from verl_anomseer.fileio import write_bytes, write_text
from verl_anomseer.series.render import COLOR, YLIM

ANOMALIES, REPORT_MD, REPORT_CSV, PLOTS = "anomalies.csv", "report.md", "report.csv", "plots"
ANOMALY_COLUMNS = ("file", "column", "start", "end", "label")
PLOT_POINTS = 20_000  # longer series are drawn as per-bucket min/max envelopes of this many points


def write_anomalies(out: Path, found: dict[str, tuple[SeriesPart, list]]) -> pd.DataFrame:
    """``anomalies.csv`` for every series (``found``: series key -> (part, [(start, end, class), ...]))."""
    rows = [(part.file, "+".join(part.columns), s, e, label) for part, spans in found.values() for s, e, label in spans]
    table = pd.DataFrame(rows, columns=list(ANOMALY_COLUMNS))
    write_text(out / ANOMALIES, table.to_csv(index=False))
    return table


def plot_name(part: SeriesPart) -> str:
    """A file-system-safe PNG name for the series."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", f"{part.file}__{'+'.join(part.columns)}") + ".png"


def _envelope(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of a line that keeps each bucket's min and max, so spikes stay visible when thinned."""
    if y.size <= PLOT_POINTS:
        return np.arange(y.size), y
    edges = np.linspace(0, y.size, PLOT_POINTS // 2 + 1).astype(int)
    lo, hi = np.minimum.reduceat(y, edges[:-1]), np.maximum.reduceat(y, edges[:-1])
    return np.repeat(edges[:-1], 2), np.column_stack([lo, hi]).ravel()


def plot_part(out: Path, part: SeriesPart, predicted, truth) -> Path:
    """One PNG: a panel per channel in the plot style, predicted spans hatched red, true spans shaded green."""
    channels = part.plot_values.shape[0]
    figure = Figure(figsize=(12, 1.8 * channels + 0.6))
    FigureCanvasAgg(figure)
    axes = figure.subplots(channels, 1, sharex=True, squeeze=False)[:, 0]
    for ax, values, name in zip(axes, part.plot_values, part.columns):
        x, y = _envelope(values)
        ax.plot(x, y, color=COLOR, lw=0.7)
        ax.set_ylim(*YLIM)
        ax.set_ylabel(name, fontsize=8)
        shade_intervals(ax, truth, predicted)
    axes[0].set_title(
        f"{part.file} [{', '.join(part.columns)}]: {len(predicted)} predicted, {len(truth)} true "
        "interval(s) (file rows)",
        fontsize=9,
    )
    interval_legend(axes[0], "true")
    axes[-1].set_xlim(0, part.rows)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    path = out / PLOTS / plot_name(part)
    write_bytes(path, buffer.getvalue())
    return path


def write_report(out: Path, scores: list[dict], notes: list[str]) -> pd.DataFrame:
    """``report.csv`` (one row per labelled series, then their mean) and ``report.md`` (the same, in %)."""
    table = pd.DataFrame(
        scores, columns=["file", "column", "rows", "true_intervals", "predicted_intervals", *SCORE_COLUMNS]
    )
    mean = {
        "file": "mean",
        "column": "",
        "rows": int(table["rows"].sum()),
        "true_intervals": int(table["true_intervals"].sum()),
        "predicted_intervals": int(table["predicted_intervals"].sum()),
        **{c: float(table[c].mean()) for c in SCORE_COLUMNS},
    }
    table = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
    write_text(out / REPORT_CSV, table.to_csv(index=False))
    header = [
        "File",
        "Column(s)",
        "Rows",
        "True",
        "Predicted",
        "Point P",
        "Point R",
        "Point F1",
        "Aff P",
        "Aff R",
        "Aff F1",
    ]
    lines = [
        "# Detection report",
        "",
        *[f"- {n}" for n in notes],
        "",
        "Series-level scores over each whole series (%, file rows; both empty = 100, one empty = 0).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in table.itertuples(index=False):
        cells = [
            row.file,
            row.column,
            str(row.rows),
            str(row.true_intervals),
            str(row.predicted_intervals),
            *[f"{100 * getattr(row, c):.1f}" for c in SCORE_COLUMNS],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    write_text(out / REPORT_MD, "\n".join(lines) + "\n")
    return table
