"""The lenient parser (``parser: lenient``): reads as much as it can of a malformed answer.

It parses ``<think>…</think><answer>[[s, e], …]</answer><class>c</class>``; the strict parser
(:mod:`verl_anomseer.scoring.strict`, the default) applies the authors' rules instead. Contract (never raises on
any string, never evaluates code):

- the **last** ``<answer>…</answer>`` block is read: JSON first, then a tolerant scan for ``[s, e]``, ``(s, e)``
  and ``{"start": s, "end": e}`` items (so truncated lists and ``array([...])`` still parse);
- items are ``[s, e]`` pairs or ``{"start", "end"}`` mappings of finite numbers (start floored, end ceiled),
  end-exclusive; items with ``start < 0`` or ``start >= end`` or of any other shape are dropped, ends are
  clipped to the series length, and the rest are sorted and merged into disjoint events;
- the last ``<class>…</class>`` block is normalized (case, spaces, quotes, ``_``/``-``, an ``anomaly`` suffix,
  synonyms such as ``contextual`` -> ``contextual point``; a JSON list gives its first item, a JSON object the
  value of its ``prediction``/``class``/``label``/``type`` key); anything outside the classes becomes ``""``;
- ``format_ok`` iff a ``<think>…</think>`` block, a parseable answer and a ``<class>`` block are all present;
- ``answer_ok`` iff the answer parsed and it is empty (``[]``) or kept at least one valid interval: the
  reward's localization term is 0 otherwise.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Mapping

import numpy as np

from verl_anomseer.scoring.intervals import merge_intervals
from verl_anomseer.scoring.parsed import (
    UNREADABLE,
    ParsedAnswer,
    as_text,
    assemble,
    class_label,
    item_bounds,
    read_answer,
)
from verl_anomseer.series.taxonomy import NORMAL

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*[\])]")
_DICT_PAIR = re.compile(rf"[\"']?start[\"']?\s*[:=]\s*({_NUM})\s*,\s*[\"']?end[\"']?\s*[:=]\s*({_NUM})", re.IGNORECASE)
_EMPTY_LIST = re.compile(r"\s*(?:(?:np\.|numpy\.)?array\(\s*\[\s*\]\s*\)|\(\s*\)|\[\s*\])\s*")
_SYNONYMS = {
    "contextual": "contextual point",
    "global": "global point",
    "seasonality": "seasonal",
    "trend shift": "trend",
    "shape": "shapelet",
    "no": NORMAL,  # "no anomaly" once the suffix is gone
    "none": NORMAL,
}
_TAGS = {
    t: (re.compile(rf"<\s*{t}\s*>", re.IGNORECASE), re.compile(rf"</\s*{t}\s*>", re.IGNORECASE))
    for t in ("think", "answer", "class")
}


def _last_block(text: str, tag: str) -> str | None:
    """Content of the last *closed* ``<tag>…</tag>`` block (tags case-insensitive), in linear time; None if none.

    The block is the last opening tag that some closing tag follows, up to the first closing tag after it, so
    a trailing unclosed ``<tag>`` or a stray ``</tag>`` does not swallow the real block.
    """
    open_re, close_re = _TAGS[tag]
    closes = [m.start() for m in close_re.finditer(text)]
    if not closes:
        return None
    opens = [m.end() for m in open_re.finditer(text, 0, closes[-1])]
    if not opens:
        return None
    start = opens[-1]
    return text[start : closes[bisect.bisect_left(closes, start)]]


def _has_block(text: str, tag: str) -> bool:
    open_re, close_re = _TAGS[tag]
    opened = open_re.search(text)
    return opened is not None and close_re.search(text, opened.end()) is not None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        x = float(min(max(value, -(2**62)), 2**62))  # ints of any size; the clip keeps float() exact enough
    elif isinstance(value, float):
        x = value
    elif isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def _item_bounds(item: object) -> tuple[float, float] | None:
    return item_bounds(item, _number, fold_keys=True)


def _json_items(content: str) -> list | None:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, Mapping):
        for key in ("intervals", "anomalies", "answer"):
            if isinstance(value.get(key), list):
                return value[key]
        return [value]
    if isinstance(value, list):
        if len(value) == 2 and all(_number(v) is not None for v in value):
            return [value]  # a single bare pair [s, e]
        return value
    return None


def _scan_items(content: str) -> list | None:
    pairs = _PAIR.findall(content) + _DICT_PAIR.findall(content)
    if pairs:
        return [list(p) for p in pairs]
    return [] if _EMPTY_LIST.fullmatch(content) else None


def _events(items: list, length: int) -> tuple[list[tuple[int, int]], int]:
    """Valid items as merged integer events clipped to ``[0, length)``, and how many items were kept."""
    bounds = [b for b in map(_item_bounds, items) if b is not None]
    if not bounds:
        return [], 0
    arr = np.array(bounds, dtype=np.float64)
    s, e = np.floor(arr[:, 0]), np.ceil(arr[:, 1])
    valid = (s >= 0) & (s < e) & (s < length)
    s, e = s[valid].astype(np.int64), np.minimum(e[valid], length).astype(np.int64)
    events = merge_intervals(s, e)
    return [(int(a), int(b)) for a, b in events], int(valid.sum())


def _lenient_name(value: str) -> str:
    label = re.sub(r"[\s_\-]+", " ", value.strip().strip("\"'`.*:;!").lower()).strip()
    label = re.sub(r"\s+anomal(?:y|ies)$", "", label)
    return _SYNONYMS.get(label, label)


def normalize_label(raw: str) -> str:
    """One of :data:`CLASSES`, or ``""`` when ``raw`` names none of them."""
    return class_label(raw, ("[", "{", '"'), _lenient_name)


def _items(content: str) -> list | object:
    """The answer's items: the content as JSON, else the pairs found in it, else :data:`UNREADABLE`."""
    items = _json_items(content.strip())
    if items is None:
        items = _scan_items(content)
    return UNREADABLE if items is None else items


def parse_lenient(text: str, length: int) -> ParsedAnswer:
    """Parse one model response for a series of ``length`` points (see the module docstring)."""
    text = as_text(text)
    answer = read_answer(
        _last_block(text, "answer"),
        lambda content: content.strip().lower() in ("", "none", "null"),
        _items,
        lambda items: _events(items, length),
    )
    raw_label = _last_block(text, "class")
    return assemble(
        label="" if raw_label is None else normalize_label(raw_label),
        has_class=raw_label is not None,
        has_think=_has_block(text, "think"),
        **answer,
    )
