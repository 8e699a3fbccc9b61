"""Report figures: per-category bars, class confusion matrix, a gallery of predictions.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global backend change) and
saved atomically as PNGs.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from verl_anomseer.eval.report import category_order
from verl_anomseer.fileio import write_bytes
from verl_anomseer.series.render import plot_series
from verl_anomseer.series.taxonomy import CLASSES

NO_CLASS = "(none)"
BAR_METRICS = {"aff_f1": "Affinity F1", "pt_f1": "Point F1", "cls": "Class accuracy"}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    write_bytes(path, buffer.getvalue())


def category_bars(summary: pd.DataFrame, path: str | os.PathLike, subset: str = "all") -> None:
    """Grouped bars per category (affinity F1, point F1, class accuracy), error bars = std over seeds."""
    rows = summary[(summary.subset == subset) & (summary.kind == "category")]
    names = category_order(rows["name"])
    x = np.arange(len(names))
    width = 0.8 / len(BAR_METRICS)
    fig = _figure(max(6.0, 1.1 * len(names) + 2), 3.6)
    ax = fig.add_subplot()
    for i, (metric, title) in enumerate(BAR_METRICS.items()):
        cells = rows[rows.metric == metric].set_index("name").reindex(names)
        spread = None if cells["std"].isna().all() else 100 * cells["std"].fillna(0)
        ax.bar(x + (i - 1) * width, 100 * cells["mean"], width, yerr=spread, label=title, capsize=2)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(f"Per category ({'all series' if subset == 'all' else 'anomalous series only'})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    _save(fig, path)


def class_confusion(records: list[dict], path: str | os.PathLike) -> None:
    """Counts of (ground-truth class, predicted class); an unreadable or unknown class is ``(none)``."""
    labels = [*CLASSES, NO_CLASS]
    truth = [r["gt_label"] for r in records]
    pred = [r["pred_label"] if r["pred_label"] in CLASSES else NO_CLASS for r in records]
    matrix = confusion_matrix(truth, pred, labels=labels)
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(matrix, display_labels=labels).plot(
        ax=ax, colorbar=False, xticks_rotation=35, values_format="d"
    )
    ax.set_title("Class confusion (rows: ground truth)")
    _save(fig, path)


def shade_intervals(ax, truth, predicted) -> None:
    """True spans shaded green (the edge keeps a short span visible), predicted spans ``(start, end, ...)`` hatched
    red, on one axis (x in samples)."""
    for s, e in truth:
        ax.axvspan(s, e, color="tab:green", alpha=0.3, lw=1)
    for s, e, *_ in predicted:
        ax.axvspan(s, e, facecolor="none", edgecolor="tab:red", hatch="///", lw=0.8)


def interval_legend(ax, truth_label: str) -> None:
    """The legend of :func:`shade_intervals`."""
    ax.legend(
        handles=[
            Patch(color="tab:green", alpha=0.3, label=truth_label),
            Patch(facecolor="none", edgecolor="tab:red", hatch="///", label="predicted"),
        ],
        loc="upper right",
        fontsize=7,
    )


def gallery_records(records: list[dict], per_category: int = 2) -> list[dict]:
    """The first ``per_category`` records of each category for the lowest seed, anomalous series first."""
    seed = min(r["seed"] for r in records)
    chosen: dict[str, list[dict]] = {}
    for record in sorted((r for r in records if r["seed"] == seed), key=lambda r: not r["anomalous"]):
        picks = chosen.setdefault(record["category"], [])
        if len(picks) < per_category:
            picks.append(record)
    return [r for category in category_order(chosen) for r in chosen[category]]


def gallery(records: list[dict], values: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Each record's series in the rendering style, GT intervals green, predicted intervals red (hatched)."""
    fig = _figure(10, 1.9 * len(records))
    axes = fig.subplots(len(records), 1, squeeze=False)[:, 0]
    for ax, record in zip(axes, records):
        plot_series(ax, values[record["series_id"]])
        shade_intervals(ax, record["gt_intervals"], record["pred_intervals"])
        ax.set_title(
            f"{record['series_id']} [{record['category']}] GT {record['gt_label']} / pred "
            f"{record['pred_label'] or NO_CLASS}; aff F1 {record['aff_f1']:.2f}",
            fontsize=8,
        )
    interval_legend(axes[0], "ground truth")
    fig.tight_layout()
    _save(fig, path)
