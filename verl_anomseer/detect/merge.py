"""Window answers -> series anomalies, and their scores against the labels (no verl).

- Rows: ``series.windows.vote`` (a row is anomalous when at least ``threshold`` of the windows covering it flag it).
- Class of a merged interval: the class whose windows' flagged rows overlap it the most (ties: taxonomy order).
- Scores: point and affiliation precision / recall / F1 of the merged intervals against the label runs over the
  whole series (``verl_anomseer.scoring.metrics``; both empty -> 1, one empty -> 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from verl_anomseer.scoring.metrics import affiliation_prf, point_prf
from verl_anomseer.series.intervals import mask_to_intervals
from verl_anomseer.series.taxonomy import CLASSES
from verl_anomseer.series.windows import to_rows, vote

SCORE_COLUMNS = ("pt_p", "pt_r", "pt_f1", "aff_p", "aff_r", "aff_f1")


@dataclass(frozen=True)
class WindowAnswer:
    """One window's parsed answer: rows ``[start, end)``, intervals in window coordinates, the class."""

    start: int
    end: int
    intervals: list[tuple[int, int]]
    label: str


def merge_answers(rows: int, answers: Iterable[WindowAnswer], threshold: float) -> list[tuple[int, int, str]]:
    """``(start, end, class)`` of each anomalous run of rows after the vote, in file rows, end exclusive."""
    answers = list(answers)
    mask = vote(rows, ((a.start, a.end, a.intervals) for a in answers), threshold)
    flagged = [(a.start, a.end, a.label, to_rows(a.intervals, a.start)) for a in answers if a.intervals]
    out = []
    for start, end in mask_to_intervals(mask):
        weight = dict.fromkeys(CLASSES, 0)
        for first, last, label, spans in flagged:
            if first < end and last > start:
                overlap = sum(max(0, min(e, end) - max(s, start)) for s, e in spans)
                weight[label] = weight.get(label, 0) + overlap
        out.append((start, end, max(weight, key=weight.get)))
    return out


def series_scores(predicted, truth, rows: int) -> dict[str, float]:
    """Point and affiliation P/R/F1 of ``predicted`` against ``truth`` intervals over ``rows`` rows."""
    pred = [(s, e) for s, e, *_ in predicted]
    return dict(zip(SCORE_COLUMNS, (*point_prf(pred, truth, rows), *affiliation_prf(pred, truth, rows)), strict=True))
