"""One JSONL record per (sample, seed): the raw text, the parsed answer and every reward metric.

Scoring is exactly the training reward's (:func:`verl_anomseer.scoring.reward.compute_score`) with the named
parser; the parser's reason (:func:`verl_anomseer.scoring.answer.parse_answer`) is kept so unreadable answers are
explained, never dropped.
"""

from __future__ import annotations

from verl_anomseer.eval.samples import Sample
from verl_anomseer.scoring.answer import DEFAULT_PARSER, parse_answer
from verl_anomseer.scoring.reward import SCORE_KEYS, compute_score

METRICS: tuple[str, ...] = tuple(k for k in SCORE_KEYS if k != "pred_label")


def score_record(sample: Sample, text: str, seed: int, parser: str = DEFAULT_PARSER) -> dict:
    """The JSONL record of ``text`` answered for ``sample`` under ``seed``, scored with ``parser``.

    An unlabelled sample (imported without labels) gets the parsed answer and ``labelled: False``, no scores.
    """
    length = int(sample.ground_truth["length"])
    parsed = parse_answer(text, length, parser)
    about = {
        "series_id": sample.series_id,
        "seed": int(seed),
        "suite": sample.suite,
        "category": sample.category,
        "length": length,
    }
    predicted = [[int(s), int(e)] for s, e in (parsed.intervals or [])]
    if not sample.labelled:
        return {
            **about,
            "labelled": False,
            "text": text,
            "pred_intervals": predicted,
            "pred_label": parsed.label,
            "format_ok": bool(parsed.format_ok),
            "reason": parsed.reason,
        }
    scores = compute_score(sample.data_source, text, sample.ground_truth, sample.extra_info, parser=parser)
    return {
        **about,
        "gt_intervals": [[int(s), int(e)] for s, e in sample.ground_truth["intervals"]],
        "gt_label": sample.ground_truth["label"],
        "anomalous": sample.anomalous,
        "text": text,
        "pred_intervals": predicted,
        "pred_label": scores["pred_label"],
        "format_ok": bool(parsed.format_ok),
        "answer_ok": bool(parsed.answer_ok),
        "reason": parsed.reason,
        **{m: float(scores[m]) for m in METRICS},
    }
