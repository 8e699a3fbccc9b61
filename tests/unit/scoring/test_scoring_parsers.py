"""Both parsers: the dispatch, every documented difference (docs/scoring.md), hostile text, round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verl_anomseer.scoring.answer import DEFAULT_PARSER, PARSERS, check_parser, parse_answer
from verl_anomseer.series.taxonomy import CLASSES

L = 1000


def wrap(answer: str, cls: str = "trend", think: str = "reasoning") -> str:
    return f"<think>{think}</think><answer>{answer}</answer><class>{cls}</class>"


def test_dispatch_and_unknown_names():
    assert DEFAULT_PARSER == "strict" and set(PARSERS) == {"strict", "lenient"}
    text = wrap("[[10, 20], [30, 40]")
    assert parse_answer(text, L) == parse_answer(text, L, "strict") != parse_answer(text, L, "lenient")
    for bad in ("Strict", "", None, "authors"):
        with pytest.raises(ValueError, match=r"parser: unknown .*\['lenient', 'strict'\]"):
            check_parser(bad)


# One row per difference listed in docs/scoring.md: (id, text, strict, lenient), each side
# (intervals, label, format_ok, answer_ok).
TREND_OK = ([(10, 20)], "trend", True, True)
TREND_WRONG = ([], "trend", True, False)
UNREADABLE = ([], "trend", False, False)
DIFFERENCES = [
    ("truncated list", wrap("[[10, 20], [30, 40]"), UNREADABLE, ([(10, 20), (30, 40)], "trend", True, True)),
    ("pairs in prose", wrap("from [10, 20] to (30, 40)"), UNREADABLE, ([(10, 20), (30, 40)], "trend", True, True)),
    ("bare pair", wrap("[10, 20]"), TREND_WRONG, TREND_OK),
    ("lone object", wrap('{"start": 10, "end": 20}'), TREND_WRONG, TREND_OK),
    ("wrapper object", wrap('{"intervals": [[10, 20]]}'), TREND_WRONG, TREND_OK),
    ("numeric strings", wrap('[["10", "20"]]'), TREND_WRONG, TREND_OK),
    ("float bounds", wrap("[[10.7, 19.2]]"), ([(10, 19)], "trend", True, True), TREND_OK),
    ("negative fraction", wrap("[[-0.5, 20]]"), ([(0, 20)], "trend", True, True), TREND_WRONG),
    ("key case", wrap('[{"Start": 10, "End": 20}]'), TREND_WRONG, TREND_OK),
    ("null answer", wrap("null"), TREND_WRONG, UNREADABLE),
    ("spaces inside tags", "<think>x</think>< answer >[[10, 20]]</ answer ><class>trend</class>", UNREADABLE, TREND_OK),
    (
        "opening tag inside a block",
        "<think>x</think><answer>[[1, 2]]<answer>[[10, 20]]</answer><class>trend</class>",
        UNREADABLE,
        TREND_OK,
    ),
    ("numpy repr with dtype", wrap("array([[10, 20]], dtype=int64)"), UNREADABLE, TREND_OK),
    (
        "two class blocks",
        wrap("[[10, 20]]") + "<class>seasonal</class>",
        TREND_OK,
        ([(10, 20)], "seasonal", True, True),
    ),
    ("class none", wrap("[[10, 20]]", "none"), ([(10, 20)], "", True, True), ([(10, 20)], "normal", True, True)),
    (
        "class no anomaly",
        wrap("[[10, 20]]", "no anomaly"),
        ([(10, 20)], "", True, True),
        ([(10, 20)], "normal", True, True),
    ),
    ("class anomaly suffix", wrap("[[10, 20]]", "trend anomaly"), ([(10, 20)], "", True, True), TREND_OK),
    ("class punctuation", wrap("[[10, 20]]", "trend."), ([(10, 20)], "", True, True), TREND_OK),
    ("class quotes", wrap("[[10, 20]]", '"trend"'), ([(10, 20)], "", True, True), TREND_OK),
    (
        "class separators",
        wrap("[[10, 20]]", "contextual-point"),
        ([(10, 20)], "", True, True),
        ([(10, 20)], "contextual point", True, True),
    ),
    (
        "class synonyms",
        wrap("[[10, 20]]", "seasonality"),
        ([(10, 20)], "", True, True),
        ([(10, 20)], "seasonal", True, True),
    ),
]


@pytest.mark.parametrize(("text", "strict", "lenient"), [d[1:] for d in DIFFERENCES], ids=[d[0] for d in DIFFERENCES])
def test_documented_differences(text, strict, lenient):
    for name, expected in (("strict", strict), ("lenient", lenient)):
        parsed = parse_answer(text, L, name)
        assert (parsed.intervals, parsed.label, parsed.format_ok, parsed.answer_ok) == expected, name


@pytest.mark.parametrize(
    "text",
    [
        wrap("[[10, 20], [30, 40]]"),
        wrap('[{"start": 10, "end": 20}]', "Global  Point"),
        wrap("[]", "normal"),
        wrap("[(10, 20), [-5, 3], [9, 2]]", "contextual"),
        wrap("array([[10, 20]])", "SEASONAL"),
        wrap("[[10, 20]]") + "<answer>[[30, 40]]</answer>",
        wrap("[[990, 5000], [1200, 1300]]"),
        "<THINK>\nx\n</THINK><ANSWER>\n[[1, 2]]\n</ANSWER><CLASS>shapelet</CLASS>",
    ],
)
def test_well_formed_answers_read_the_same(text):
    assert parse_answer(text, L, "strict") == parse_answer(text, L, "lenient")


HOSTILE = [
    "",
    "\x00\xff\ufffd" * 1000,
    "<answer>" * 20000,
    "</answer>" * 20000,
    "<answer></answer>" * 20000,
    "<class>" * 20000 + "</class>",
    "<answer>" + "[" * 100_000 + "</answer>",  # JSON recursion, parser nesting limit
    wrap("[" * 50_000 + "]" * 50_000),
    wrap("[[1" + "0" * 5000 + ", 5]]"),  # over Python's int-digit limit
    wrap("[[1e999, 1e999]]"),
    wrap("[[1e308, -1e308], [0, 1e308]]"),
    wrap(json.dumps([[i, i + 1] for i in range(0, 20000, 2)])),  # thousands of intervals
    wrap("x" * 1_000_000),  # 1 MB
    wrap("(" * 1000 + ")" * 1000),
    wrap("{" * 10_000),
    wrap('"\\d \\x"'),
    wrap("lambda: 0"),
    "<think>" + "🙂" * 10000 + "</think><answer>[[1, 2]]</answer><class>İ</class>",
]


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_never_raises(text, parser):
    parsed = parse_answer(text, L, parser)
    assert parsed.label in CLASSES + ("",)
    assert all(0 <= s < e <= L for s, e in parsed.intervals)
    assert parsed.reason


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_non_string_input_is_tolerated(parser):
    assert parse_answer(b"<think>x</think><answer>[[1, 2]]</answer><class>trend</class>", L, parser).format_ok
    assert not parse_answer(None, L, parser).format_ok  # type: ignore[arg-type]


def _canonical(pairs, length):
    """Reference semantics written as a plain point set: drop invalid, clip, merge touching."""
    points = set()
    for s, e in pairs:
        if s >= 0 and s < e:
            points.update(range(s, min(e, length)))
    out, run = [], None
    for x in sorted(points):
        if run and x == run[1]:
            run[1] = x + 1
        else:
            run = [x, x + 1]
            out.append(run)
    return [tuple(r) for r in out]


pairs_st = st.lists(st.tuples(st.integers(-50, 1200), st.integers(-50, 1200)), max_size=12)


@settings(max_examples=2_000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    pairs=pairs_st,
    style=st.sampled_from(["json", "dict", "tuple", "truncated"]),
    parser=st.sampled_from(sorted(PARSERS)),
)
def test_round_trip_matches_point_set_semantics(pairs, style, parser):
    if style == "json":
        answer = json.dumps([list(p) for p in pairs])
    elif style == "dict":
        answer = json.dumps([{"start": s, "end": e} for s, e in pairs])
    elif style == "tuple":
        answer = "[" + ", ".join(f"({s}, {e})" for s, e in pairs) + "]"
    else:
        answer = json.dumps([list(p) for p in pairs])[:-1]
    if style == "truncated" and not pairs:
        return
    parsed = parse_answer(wrap(answer), L, parser)
    if style == "truncated" and parser == "strict":  # the authors' rule: an unreadable list is a wrong answer
        assert (parsed.intervals, parsed.format_ok, parsed.answer_ok) == ([], False, False)
        return
    assert parsed.intervals == _canonical(pairs, L)
    assert parsed.format_ok
    assert parsed.answer_ok == (bool(parsed.intervals) or not pairs)


@pytest.mark.slow  # 10,000 examples per parser: ~15 s each on an idle 2-core machine, mostly hypothesis's own
@pytest.mark.parametrize("parser", sorted(PARSERS))
@settings(max_examples=10_000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    "<think>",
                    "</think>",
                    "<answer>",
                    "</answer>",
                    "<class>",
                    "</class>",
                    "[",
                    "]",
                    "{",
                    "}",
                    ",",
                    "(",
                    ")",
                    '"start":',
                    '"end":',
                    "1e308",
                    "-7",
                    "NaN",
                    "Infinity",
                    "3.5",
                    "trend",
                    "contextual",
                    " ",
                    "null",
                    "none",
                    "array(",
                    "'start':",
                    "\n",
                ]
            ),
            max_size=40,
        ).map("".join),
    ),
    length=st.integers(1, 5000),
)
def test_any_text_gives_a_valid_parse(parser, text, length):
    parsed = parse_answer(text, length, parser)
    assert parsed.label in CLASSES + ("",)
    assert all(isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= length for s, e in parsed.intervals)
    assert all(a[1] < b[0] for a, b in zip(parsed.intervals, parsed.intervals[1:]))  # disjoint, not touching
    nothing_wrong = parsed.format_ok and parsed.answer_ok and parsed.label != "" and "dropped" not in parsed.reason
    assert (parsed.reason == "ok") == nothing_wrong, parsed  # "ok" exactly when no problem was found
    assert parsed.reason == "ok" or all(p and p != "ok" for p in parsed.reason.split("; ")), parsed
    if parsed.format_ok:
        assert "<think>" in text.lower() and "<class>" in text.lower()
    if parsed.answer_ok and parsed.intervals:
        assert "<answer>" in text.lower()
