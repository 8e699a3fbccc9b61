"""What a parser reads from a model response: the result type and the pieces both parsers share."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from verl_anomseer.series.taxonomy import CLASSES

_CLASS_KEYS = ("prediction", "class", "label", "type")
_CLASS_SET = frozenset(CLASSES)
UNREADABLE = object()  # what an answer reader returns for content it cannot parse


@dataclass(frozen=True)
class ParsedAnswer:
    """What the model answered. ``reason`` is ``"ok"`` or the problems found, joined by ``"; "``.

    ``answer_ok`` is false for a wrong answer (the reward's localization term is then 0).
    """

    intervals: list[tuple[int, int]]
    label: str
    format_ok: bool
    reason: str
    answer_ok: bool = False


def as_text(text: object) -> str:
    """``text`` as a string: bytes decoded as UTF-8 (bad bytes replaced), any other non-string as ``""``."""
    if isinstance(text, str):
        return text
    return text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else ""


def class_value(raw: str, json_starts: tuple[str, ...]) -> object:
    """The class a ``<class>`` block names, before normalization: ``raw`` stripped; if it starts with one of
    ``json_starts`` and is JSON, the decoded value, where a list gives its first item and an object its
    ``prediction``/``class``/``label``/``type`` value (keys in any case)."""
    text = raw.strip()
    value: object = text
    if text.startswith(json_starts):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            pass
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, Mapping):
        lowered = {str(k).lower(): v for k, v in value.items()}
        value = next((lowered[k] for k in _CLASS_KEYS if k in lowered), "")
    return value


def class_label(raw: str, json_starts: tuple[str, ...], normalise: Callable[[str], str]) -> str:
    """One of :data:`CLASSES`, or ``""``: ``normalise`` applied to :func:`class_value`'s string (anything else
    names no class)."""
    value = class_value(raw, json_starts)
    label = normalise(value) if isinstance(value, str) else ""
    return label if label in _CLASS_SET else ""


def read_answer(
    content: str | None,
    is_empty: Callable[[str], bool],
    items_of: Callable[[str], object],
    events_of: Callable[[object], tuple[list[tuple[int, int]], int]],
) -> dict:
    """The answer part of :func:`assemble`'s arguments (``intervals``, ``answer_problem``, ``readable``,
    ``answer_ok``) from the ``<answer>`` block's ``content`` (None: no block). ``is_empty`` content is a wrong
    answer; ``items_of`` gives the parsed items (a list, or a lone value counted as one item) or
    :data:`UNREADABLE`; ``events_of(items)`` gives ``(intervals, kept)``, judged by :func:`interval_verdict`."""
    if content is None:
        problem = "no <answer> block"
    elif is_empty(content):
        problem = "empty answer"
    elif (items := items_of(content)) is UNREADABLE:
        problem = "unparseable answer"
    else:
        intervals, kept = events_of(items)
        answer_ok, problem = interval_verdict(intervals, len(items) if isinstance(items, (list, tuple)) else 1, kept)
        return {"intervals": intervals, "answer_problem": problem, "readable": True, "answer_ok": answer_ok}
    return {"intervals": [], "answer_problem": problem, "readable": False, "answer_ok": False}


def item_bounds(item: object, bound: Callable[[object], float | None], fold_keys: bool) -> tuple | None:
    """``(start, end)`` of a ``[start, end]`` pair or a ``{"start", "end"}`` object (keys stripped and lower-cased
    when ``fold_keys``), each through ``bound``; None for any other item or a bound that ``bound`` refuses."""
    if isinstance(item, Mapping):
        keys = {str(k).strip().lower(): v for k, v in item.items()} if fold_keys else item
        if "start" not in keys or "end" not in keys:
            return None
        s, e = bound(keys["start"]), bound(keys["end"])
    elif isinstance(item, (list, tuple)) and len(item) == 2:
        s, e = bound(item[0]), bound(item[1])
    else:
        return None
    return None if s is None or e is None else (s, e)


def interval_verdict(intervals: list, items: int, kept: int) -> tuple[bool, str | None]:
    """``(answer_ok, problem)`` of a readable answer of ``items`` list items of which ``kept`` survived as
    ``intervals``: an empty list is fine, a non-empty one with no surviving interval is a wrong answer."""
    if items and not intervals:
        return False, "no valid interval"
    return True, (f"{items - kept} invalid item(s) dropped" if kept < items else None)


def assemble(
    intervals: list[tuple[int, int]],
    label: str,
    *,
    answer_problem: str | None,
    readable: bool,
    answer_ok: bool,
    has_class: bool,
    has_think: bool,
) -> ParsedAnswer:
    """The :class:`ParsedAnswer`, format_ok = think and class blocks present and a readable answer; the reasons
    in a fixed order (answer, class, think)."""
    problems = [answer_problem] if answer_problem else []
    if not has_class:
        problems.append("no <class> block")
    elif not label:
        problems.append("unknown class")
    if not has_think:
        problems.append("no <think> block")
    format_ok = has_think and has_class and readable
    return ParsedAnswer(intervals, label, format_ok, "; ".join(problems) or "ok", answer_ok)
