"""Parse a model response ``<think>…</think><answer>[[s, e], …]</answer><class>c</class>`` with a named parser.

``strict`` (the default, :mod:`verl_anomseer.scoring.strict`) applies the AnomSeer authors' scoring rules;
``lenient`` (:mod:`verl_anomseer.scoring.lenient`) reads as much as it can of a malformed answer.
``docs/scoring.md`` lists every difference.
"""

from __future__ import annotations

from collections.abc import Callable

from verl_anomseer.scoring.lenient import parse_lenient
from verl_anomseer.scoring.parsed import ParsedAnswer
from verl_anomseer.scoring.strict import parse_strict

PARSERS: dict[str, Callable[[str, int], ParsedAnswer]] = {"strict": parse_strict, "lenient": parse_lenient}
DEFAULT_PARSER = "strict"


def check_parser(name: object) -> str:
    """``name`` if it names a parser; else a ``ValueError`` that lists the choices."""
    if not isinstance(name, str) or name not in PARSERS:
        raise ValueError(f"parser: unknown {name!r}; choose one of {sorted(PARSERS)}")
    return name


def parse_answer(text: str, length: int, parser: str = DEFAULT_PARSER) -> ParsedAnswer:
    """``text`` parsed for a series of ``length`` points by the parser named ``parser``; never raises on text."""
    return PARSERS[check_parser(parser)](text, length)
