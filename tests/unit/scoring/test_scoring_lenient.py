"""The lenient parser's documented cases (hostile text and round trips for both parsers: test_scoring_parsers.py)."""

from __future__ import annotations

import pytest

from verl_anomseer.scoring.lenient import normalize_label, parse_lenient

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
    parsed = parse_lenient(wrap(answer), L)
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
    parsed = parse_lenient(text, L)
    assert parsed.format_ok is fmt
    assert parsed.answer_ok is answer_ok
    assert reason_part in parsed.reason


def test_the_last_closed_answer_block_wins():
    text = "<think>x</think><answer>[[1, 2]]</answer> wait <answer>[[5, 9]]</answer><class>trend</class><answer>[[7"
    assert parse_lenient(text, L).intervals == [(5, 9)]
    # a stray closing tag after the block does not swallow it
    assert parse_lenient(wrap("[[3, 4]]") + "</answer>", L).intervals == [(3, 4)]
    # tags are case-insensitive and may hold spaces
    assert parse_lenient("<THINK>x</THINK><Answer >[[3, 4]]</ANSWER><Class>Trend</Class>", L).format_ok


def test_class_tag_present_but_unknown_keeps_format():
    parsed = parse_lenient(wrap("[]", cls="banana"), L)
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
