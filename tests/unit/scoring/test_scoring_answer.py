"""The answer parser: documented cases, hostile text, and hypothesis round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verl_anomseer.scoring.answer import normalize_label, parse_answer
from verl_anomseer.series.taxonomy import CLASSES

L = 1000


def wrap(answer: str, cls: str = "trend", think: str = "reasoning") -> str:
    return f"<think>{think}</think><answer>{answer}</answer><class>{cls}</class>"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("[[10, 20], [30, 40]]", [(10, 20), (30, 40)]),
        ("[[30, 40], [10, 20]]", [(10, 20), (30, 40)]),  # sorted
        ("[[10, 20], [15, 30], [30, 35]]", [(10, 35)]),  # overlapping and touching merged
        ('[{"start": 5, "end": 9}, {"Start": 1, "End": 3}]', [(1, 3), (5, 9)]),
        ('{"start": 5, "end": 9}', [(5, 9)]),
        ("[5, 9]", [(5, 9)]),  # one bare pair
        ('{"intervals": [[5, 9]]}', [(5, 9)]),
        ("[[2.4, 7.2]]", [(2, 8)]),  # start floored, end ceiled
        ('[["3", "8"]]', [(3, 8)]),  # numeric strings
        ("[[-5, 10], [20, 10], [40, 40], [50, 60]]", [(50, 60)]),  # negative, reversed, empty dropped
        ("[[990, 1e308]]", [(990, 1000)]),  # clipped to the length
        ("[[1000, 1200], [10, 20]]", [(10, 20)]),  # starts beyond the series dropped
        ("[[10, 20], [30, 40]", [(10, 20), (30, 40)]),  # truncated JSON: tolerant scan
        ("array([[10, 20], [30, 40]])", [(10, 20), (30, 40)]),  # numpy repr, never evaluated
        ("[(10, 20), (30, 40)]", [(10, 20), (30, 40)]),
        ("[{'start': 10, 'end': 20}]", [(10, 20)]),
        ("[]", []),
        (" [ ] ", []),
    ],
)
def test_intervals_are_parsed_clipped_and_merged(answer, expected):
    parsed = parse_answer(wrap(answer), L)
    assert parsed.intervals == expected
    assert parsed.format_ok and parsed.answer_ok


@pytest.mark.parametrize(
    ("text", "fmt", "answer_ok", "reason_part"),
    [
        ("no tags at all", False, False, "no <answer> block"),
        (wrap(""), False, False, "empty answer"),
        (wrap("none"), False, False, "empty answer"),
        (wrap("the anomaly is somewhere"), False, False, "unparseable answer"),
        (wrap("[[[[[["), False, False, "unparseable answer"),
        (wrap("[[NaN, 5], [true, 9], [1]]"), True, False, "no valid interval"),
        (wrap("[[-3, -1]]"), True, False, "no valid interval"),
        (wrap("[[1, 2], [9, 3]]"), True, True, "1 invalid item(s) dropped"),
        ("<answer>[[1, 2]]</answer><class>trend</class>", False, True, "no <think> block"),
        ("<think>x</think><answer>[[1, 2]]</answer>", False, True, "no <class> block"),
        ("<think>x<answer>[[1, 2]]</answer><class>trend</class>", False, True, "no <think> block"),
    ],
)
def test_format_and_reason(text, fmt, answer_ok, reason_part):
    parsed = parse_answer(text, L)
    assert parsed.format_ok is fmt
    assert parsed.answer_ok is answer_ok
    assert reason_part in parsed.reason


def test_the_last_closed_answer_block_wins():
    text = "<think>x</think><answer>[[1, 2]]</answer> wait <answer>[[5, 9]]</answer><class>trend</class><answer>[[7"
    assert parse_answer(text, L).intervals == [(5, 9)]
    # a stray closing tag after the block does not swallow it
    assert parse_answer(wrap("[[3, 4]]") + "</answer>", L).intervals == [(3, 4)]
    # tags are case-insensitive and may hold spaces
    assert parse_answer("<THINK>x</THINK><Answer >[[3, 4]]</ANSWER><Class>Trend</Class>", L).format_ok


def test_class_tag_present_but_unknown_keeps_format():
    parsed = parse_answer(wrap("[]", cls="banana"), L)
    assert parsed.format_ok and parsed.label == "" and "unknown class" in parsed.reason


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("trend", "trend"),
        ("  Global   Point ", "global point"),
        ("contextual", "contextual point"),
        ("Contextual-Point Anomaly", "contextual point"),
        ("global_point", "global point"),
        ('"seasonal"', "seasonal"),
        ('["shapelet", "trend"]', "shapelet"),
        ('{"prediction": "Trend"}', "trend"),
        ('{"type": "global"}', "global point"),
        ("Seasonality.", "seasonal"),
        ("no anomaly", "normal"),
        ("NORMAL", "normal"),
        ("unknown", ""),
        ("[]", ""),
        ('{"foo": "trend"}', ""),
        ("123", ""),
    ],
)
def test_label_normalization(raw, label):
    assert normalize_label(raw) == label


HOSTILE = [
    "",
    "\x00\xff\ufffd" * 1000,
    "<answer>" * 20000,
    "</answer>" * 20000,
    "<answer>" + "[" * 100_000 + "</answer>",  # JSON recursion
    wrap("[" * 50_000 + "]" * 50_000),
    wrap("[[1" + "0" * 5000 + ", 5]]"),  # over Python's int-digit limit
    wrap("[[1e999, 1e999]]"),
    wrap(json.dumps([[i, i + 1] for i in range(0, 20000, 2)])),  # thousands of intervals
    wrap("x" * 1_000_000),  # 1 MB
    "<think>" + "🙂" * 10000 + "</think><answer>[[1, 2]]</answer><class>İ</class>",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_never_raises(text):
    parsed = parse_answer(text, L)
    assert parsed.label in CLASSES + ("",)
    assert all(0 <= s < e <= L for s, e in parsed.intervals)
    assert parsed.reason


def test_non_string_input_is_tolerated():
    assert parse_answer(b"<think>x</think><answer>[[1, 2]]</answer><class>trend</class>", L).format_ok
    assert not parse_answer(None, L).format_ok  # type: ignore[arg-type]


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
@given(pairs=pairs_st, style=st.sampled_from(["json", "dict", "tuple", "truncated"]))
def test_round_trip_matches_point_set_semantics(pairs, style):
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
    parsed = parse_answer(wrap(answer), L)
    assert parsed.intervals == _canonical(pairs, L)
    assert parsed.format_ok
    assert parsed.answer_ok == (bool(parsed.intervals) or not pairs)


@pytest.mark.slow  # 10,000 examples: ~15 s on an idle 2-core machine, mostly hypothesis's own generation
@settings(max_examples=10_000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                ["<think>", "</think>", "<answer>", "</answer>", "<class>", "</class>", "[", "]", "{", "}", ",",
                 '"start":', '"end":', "1e308", "-7", "NaN", "Infinity", "3.5", "trend", "contextual", " ", "null"]
            ),
            max_size=40,
        ).map("".join),
    ),
    length=st.integers(1, 5000),
)
def test_any_text_gives_a_valid_parse(text, length):
    parsed = parse_answer(text, length)
    assert parsed.label in CLASSES + ("",)
    assert all(isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= length for s, e in parsed.intervals)
    assert all(a[1] < b[0] for a, b in zip(parsed.intervals, parsed.intervals[1:]))  # disjoint, not touching
    assert parsed.reason == "ok" or parsed.reason
    if parsed.format_ok:
        assert "<think>" in text.lower() and "<class>" in text.lower()
