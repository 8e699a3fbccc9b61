"""The AnomSeer outcome reward, in verl's custom reward function signature.

``score = w_loc * loc + w_cls * cls + w_fmt * fmt`` with default weights 0.7 / 0.2 / 0.1 (the authors'), where

- ``fmt`` = 1 iff the response has a ``<think>`` block, a parseable last ``<answer>`` and a ``<class>`` tag;
- ``cls`` = 1 iff the normalized class equals the ground-truth class;
- ``loc`` = mean of the localization metrics named in ``loc_metrics`` (default all six: point-wise and
  affiliation P/R/F1 over ``[0, length)``); both interval sets empty -> every metric 1; one empty -> 0;
  a wrong answer (unparseable, or one whose items are all invalid) -> every metric 0.

The ``parser`` option (``strict``, the authors' rules and the default, or ``lenient``) decides what "parseable",
"normalized" and "valid" mean (:mod:`verl_anomseer.scoring.answer`). Use in verl:
``reward.custom_reward_function.path=pkg://verl_anomseer.scoring.reward``; options go under
``reward.custom_reward_function.reward_kwargs`` (``parser``, ``weights``, ``loc_metrics``, ``grounding``).
A malformed ``ground_truth`` raises :class:`GroundTruthError` (a data bug); model text never raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_anomseer.scoring.answer import DEFAULT_PARSER, check_parser, parse_answer
from verl_anomseer.scoring.intervals import EMPTY, merge_intervals
from verl_anomseer.scoring.metrics import affiliation_prf_events, point_prf_events
from verl_anomseer.series.taxonomy import CLASSES

DEFAULT_WEIGHTS: dict[str, float] = {"loc": 0.7, "cls": 0.2, "fmt": 0.1}
LOC_METRICS: tuple[str, ...] = ("pt_p", "pt_r", "pt_f1", "aff_p", "aff_r", "aff_f1")
SCORE_KEYS: tuple[str, ...] = ("score", "fmt", "cls", "loc") + LOC_METRICS + ("pred_label",)


class GroundTruthError(ValueError):
    """``ground_truth`` is malformed: the data set, not the model, is wrong."""


def _gt_int(value: Any, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise GroundTruthError(f"{where}: expected an integer, got {value!r}")
    if not float(value).is_integer():
        raise GroundTruthError(f"{where}: expected an integer, got {value!r}")
    return int(value)


def parse_ground_truth(ground_truth: Any) -> tuple[np.ndarray, str, int]:
    """Validated ``(events, label, length)`` of a row's ``reward_model.ground_truth``.

    Accepts lists or numpy arrays (what a parquet round trip gives); raises :class:`GroundTruthError` naming
    the field otherwise.
    """
    if not isinstance(ground_truth, Mapping):
        kind = type(ground_truth).__name__
        raise GroundTruthError(f"ground_truth: expected a mapping with intervals/label/length, got {kind}")
    for key in ("length", "intervals", "label"):
        if key not in ground_truth:
            raise GroundTruthError(f"ground_truth['{key}']: missing (row needs intervals, label, length)")
    length = _gt_int(ground_truth["length"], "ground_truth['length']")
    if length <= 0:
        raise GroundTruthError(f"ground_truth['length']: must be positive, got {length}")
    label = ground_truth["label"]
    if label not in CLASSES:
        raise GroundTruthError(f"ground_truth['label']: {label!r} is not one of {list(CLASSES)}")
    raw = ground_truth["intervals"]
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (Sequence, np.ndarray)):
        raise GroundTruthError(f"ground_truth['intervals']: expected a list of [start, end), got {raw!r}")
    if len(raw) == 0:
        return EMPTY, label, length
    try:  # fast path: a well-formed (n, 2) array of numbers
        arr = np.array(list(raw))
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    has_bool = any(isinstance(v, (bool, np.bool_)) for item in raw if isinstance(item, (list, tuple)) for v in item)
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.dtype.kind in "iuf" and not has_bool:
        s, e = arr[:, 0], arr[:, 1]
        if np.all(arr == np.floor(arr)) and np.all((s >= 0) & (s < e) & (e <= length)):
            return merge_intervals(s.astype(np.int64), e.astype(np.int64)), label, length
    for k, item in enumerate(raw):  # slow path: find and name the offending item
        where = f"ground_truth['intervals'][{k}]"
        if isinstance(item, (str, bytes)) or not isinstance(item, (Sequence, np.ndarray)) or len(item) != 2:
            raise GroundTruthError(f"{where}: expected [start, end), got {item!r}")
        s, e = _gt_int(item[0], where + "[0]"), _gt_int(item[1], where + "[1]")
        if not 0 <= s < e <= length:
            raise GroundTruthError(f"{where}: need 0 <= start < end <= length={length}, got [{s}, {e}]")
    raise GroundTruthError(f"ground_truth['intervals']: not an (n, 2) list of integers: {raw!r}")


def _weights(reward_kwargs: Mapping[str, Any]) -> dict[str, float]:
    weights = dict(DEFAULT_WEIGHTS)
    given = reward_kwargs.get("weights") or {}
    unknown = set(given) - set(weights)
    if unknown:
        raise ValueError(f"reward_kwargs.weights: unknown key(s) {sorted(unknown)}; use {sorted(weights)}")
    weights.update({k: float(v) for k, v in given.items()})
    if any(not math.isfinite(w) or w < 0 for w in weights.values()) or abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ValueError(f"reward_kwargs.weights: need non-negative weights summing to 1, got {weights}")
    return weights


def _loc_metrics(reward_kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    names = tuple(reward_kwargs.get("loc_metrics") or LOC_METRICS)
    bad = [n for n in names if n not in LOC_METRICS]
    if bad:
        raise ValueError(f"reward_kwargs.loc_metrics: unknown {bad}; choose from {list(LOC_METRICS)}")
    return names


def _parser(reward_kwargs: Mapping[str, Any]) -> str:
    try:
        return check_parser(reward_kwargs.get("parser", DEFAULT_PARSER))
    except ValueError as exc:
        raise ValueError(f"reward_kwargs.{exc}") from None


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Mapping[str, Any],
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, float | str]:
    """Score one response; returns the keys :data:`SCORE_KEYS` (+ ``grounding`` when ``reward_kwargs['grounding']``)."""
    gt_events, gt_label, length = parse_ground_truth(ground_truth)
    weights, loc_names = _weights(reward_kwargs), _loc_metrics(reward_kwargs)
    parser = _parser(reward_kwargs)
    parsed = parse_answer(solution_str, length, parser)

    if parsed.answer_ok:
        pred = np.array(parsed.intervals, dtype=np.int64).reshape(-1, 2)
        pt = point_prf_events(pred, gt_events, length)
        aff = affiliation_prf_events(pred, gt_events, length)
    else:
        pt = aff = (0.0, 0.0, 0.0)
    metrics = dict(zip(LOC_METRICS, pt + aff))
    loc = math.fsum(metrics[n] for n in loc_names) / len(loc_names)
    fmt = float(parsed.format_ok)
    cls = float(parsed.label == gt_label)
    score = math.fsum((weights["loc"] * loc, weights["cls"] * cls, weights["fmt"] * fmt))
    result: dict[str, float | str] = {"score": min(max(score, 0.0), 1.0), "fmt": fmt, "cls": cls, "loc": loc}
    result.update(metrics)
    result["pred_label"] = parsed.label

    if reward_kwargs.get("grounding"):
        from verl_anomseer.grounding.reward_term import grounding_score

        reference = (extra_info or {}).get("expcot")
        result["grounding"] = grounding_score(solution_str, reference, config=dict(reward_kwargs["grounding"]))
    return result
