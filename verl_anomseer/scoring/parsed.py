"""What a parser reads from a model response: the result type and the pieces both parsers share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

_CLASS_KEYS = ("prediction", "class", "label", "type")


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
