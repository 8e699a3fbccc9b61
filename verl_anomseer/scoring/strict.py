"""The strict parser (``parser: strict``, the default): the AnomSeer authors' scoring rules.

Contract (never raises on any string, never evaluates code):

- tags are exactly ``<think>``, ``<answer>``, ``<class>`` and their closing tags, matched case-insensitively and
  across lines; each opening tag pairs with the first closing tag after it;
- the **last** ``<answer>`` block holds the intervals. Empty content or ``none`` is a wrong answer with format 0.
  Otherwise the content must be a JSON value or a Python literal (``array(...)``/``np.array(...)`` around
  one literal is read as the literal), else it is a wrong answer with format 0. ``[]`` is an empty prediction;
- of a list (or tuple), only ``[start, end]`` pairs and ``{"start": s, "end": e}`` objects count, anything else
  is ignored. Bounds must be ``int`` or finite ``float`` (no strings, no booleans) and are truncated toward zero
  with ``int()``; pairs with a negative bound or ``start >= end`` are dropped, ends are clipped to the series
  length (a start past the series is dropped), the rest are merged. No surviving pair is a wrong answer,
  with format unchanged;
- the **first** ``<class>`` block gives the class: lower-cased, whitespace collapsed, ``contextual`` and
  ``global`` read as ``contextual point`` and ``global point``; a JSON list gives its first item and a JSON
  object its ``prediction``/``class``/``label``/``type`` value (keys in any case). Anything outside the six
  classes is no class;
- ``format_ok`` iff a ``<think>`` block, a ``<class>`` block and a parseable, non-empty answer are present.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings

import numpy as np

from verl_anomseer.scoring import parsed
from verl_anomseer.scoring.intervals import merge_intervals
from verl_anomseer.scoring.parsed import ParsedAnswer

_TAGS = {
    t: (re.compile(f"<{t}>", re.IGNORECASE), re.compile(f"</{t}>", re.IGNORECASE)) for t in ("think", "answer", "class")
}
_SHORT_CLASSES = {"contextual": "contextual point", "global": "global point"}
_SOURCE = "<model answer>"  # the file name answers are parsed under: Python's warnings about them are silenced
for _category in (SyntaxWarning, DeprecationWarning):  # e.g. "invalid decimal literal" in "[1if"
    warnings.filterwarnings("ignore", category=_category, module=re.escape(_SOURCE))


def _blocks(text: str, tag: str, first_only: bool = False) -> list[str]:
    """Contents of the ``<tag>…</tag>`` blocks, left to right, each opening tag paired with the first closing tag
    after it (what a lazy ``re.findall`` yields), in linear time."""
    open_re, close_re = _TAGS[tag]
    found, pos = [], 0
    while (opened := open_re.search(text, pos)) is not None:
        closed = close_re.search(text, opened.end())
        if closed is None:
            break
        found.append(text[opened.end() : closed.start()])
        if first_only:
            break
        pos = closed.end()
    return found


def _literal(content: str) -> object:
    """``content`` as JSON, else as a Python literal (optionally wrapped in ``array(...)``), else UNREADABLE."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        pass
    try:
        node = ast.parse(content, filename=_SOURCE, mode="eval").body
        if (
            isinstance(node, ast.Call)
            and len(node.args) == 1
            and not node.keywords
            and ast.unparse(node.func) in ("array", "np.array", "numpy.array")
        ):
            node = node.args[0]
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return parsed.UNREADABLE


def _bound(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) else None


def _pair(item: object) -> tuple[int, int] | None:
    bounds = parsed.item_bounds(item, _bound, fold_keys=False)
    return bounds if bounds is not None and 0 <= bounds[0] < bounds[1] else None


def _events(items: list | tuple, length: int) -> tuple[list[tuple[int, int]], int]:
    """The surviving pairs of ``items`` clipped to ``[0, length)`` and merged, and how many items survived."""
    pairs = [(s, min(e, length)) for s, e in filter(None, map(_pair, items)) if s < length]
    if not pairs:
        return [], 0
    arr = np.array(pairs, dtype=np.int64)
    events = merge_intervals(arr[:, 0], arr[:, 1])
    return [(int(a), int(b)) for a, b in events], len(pairs)


def _strict_name(value: str) -> str:
    label = " ".join(value.lower().split())
    return _SHORT_CLASSES.get(label, label)


def strict_label(raw: str) -> str:
    """One of :data:`CLASSES`, or ``""`` when ``raw`` names none of them under the strict rules."""
    return parsed.class_label(raw, ("[", "{"), _strict_name)


def parse_strict(text: str, length: int) -> ParsedAnswer:
    """Parse one model response for a series of ``length`` points (see the module docstring)."""
    text = parsed.as_text(text)
    answers = _blocks(text, "answer")
    answer = parsed.read_answer(
        answers[-1].strip() if answers else None,
        lambda content: content == "" or content.lower() == "none",
        _literal,
        # a lone value is one item, never a pair
        lambda value: _events(value, length) if isinstance(value, (list, tuple)) else ([], 0),
    )
    classes = _blocks(text, "class", first_only=True)
    return parsed.assemble(
        label=strict_label(classes[0]) if classes else "",
        has_class=bool(classes),
        has_think=bool(_blocks(text, "think", first_only=True)),
        **answer,
    )
