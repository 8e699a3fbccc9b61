"""The strict parser against the authors' rules: hand-written answers with hand-written fmt, cls and loc.

Every expected value below was worked out by hand from the rules in ``verl_anomseer/scoring/strict.py``; the
two partial localization values are derived in the comments next to them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verl_anomseer.scoring.reward import compute_score
from verl_anomseer.scoring.strict import parse_strict

L = 1000
GT = {"intervals": [[100, 150], [600, 640]], "label": "global point", "length": L}
CTX = {"intervals": [[100, 150], [600, 640]], "label": "contextual point", "length": L}
NORMAL = {"intervals": [], "label": "normal", "length": L}
RIGHT = "[[100, 150], [600, 640]]"

# pred [[600, 640]] against GT: point P 1, R 40/90, F1 8/13; affiliation: only zone 2 holds a prediction, equal
# to its event -> P 1; recall 1 in zone 2, 0 in zone 1 -> R 1/2, F1 2/3.
ONE_OF_TWO = (1 + 4 / 9 + 8 / 13 + 1 + 1 / 2 + 2 / 3) / 6
# pred [[0, 150], [600, 640]] against GT: point tp 90 of 190 -> P 9/19, R 1, F1 9/14. Affiliation zone 1 is
# [0, 375]: x in [100, 150] scores 1; x = 100 - d, d in [0, 100], scores P(dist(X, J) >= d) = (325 - 2d) / 375,
# whose integral is 22500 / 375 = 60 -> zone-1 precision (50 + 60) / 150 = 11/15, zone 2 -> 1; P = 13/15,
# R = 1, F1 = 13/14.
WIDE_FIRST = (9 / 19 + 1 + 9 / 14 + 13 / 15 + 1 + 13 / 14) / 6


def w(answer: str, cls: str = "global point", think: str = "a jump near 100 and 600") -> str:
    return f"<think>{think}</think><answer>{answer}</answer><class>{cls}</class>"


CASES = [
    # (id, text, ground truth, fmt, cls, loc)
    ("exact json", w(RIGHT), GT, 1, 1, 1),
    ("truncated list", w("[[100, 150], [600, 640]"), GT, 0, 1, 0),
    ("truncated inside a pair", w("[[100, 150], [600,"), GT, 0, 1, 0),
    ("bare pair", w("[100, 150]"), GT, 1, 1, 0),
    ("pair inside prose", w("the anomaly spans [100, 150] and [600, 640]"), GT, 0, 1, 0),
    ("list then prose", w(RIGHT + " (two spikes)"), GT, 0, 1, 0),
    ("json objects", w('[{"start": 100, "end": 150}, {"start": 600, "end": 640}]'), GT, 1, 1, 1),
    ("python dicts", w("[{'start': 100, 'end': 150}, {'start': 600, 'end': 640}]"), GT, 1, 1, 1),
    ("object keys are exact", w('[{"Start": 100, "End": 150}]'), GT, 1, 1, 0),
    ("lone object, not in a list", w('{"start": 100, "end": 150}'), GT, 1, 1, 0),
    ("python tuples", w("[(100, 150), (600, 640)]"), GT, 1, 1, 1),
    ("tuple of tuples", w("((100, 150), (600, 640))"), GT, 1, 1, 1),
    ("numpy repr", w("array([[100, 150], [600, 640]])"), GT, 1, 1, 1),
    ("np.array call", w("np.array([[100, 150], [600, 640]])"), GT, 1, 1, 1),
    ("floats truncated toward zero", w("[[100.9, 150.7], [600.2, 640.9]]"), GT, 1, 1, 1),
    ("negative float truncates to 0", w("[[-0.5, 150], [600, 640]]"), GT, 1, 1, WIDE_FIRST),
    ("numeric strings are not numbers", w('[["100", "150"], ["600", "640"]]'), GT, 1, 1, 0),
    ("booleans are not numbers", w("[[true, 150]]"), GT, 1, 1, 0),
    ("NaN bound dropped", w("[[NaN, 150]]"), GT, 1, 1, 0),
    ("infinite bound dropped", w("[[100, Infinity]]"), GT, 1, 1, 0),
    ("1e999 overflows to inf", w("[[1e999, 150]]"), GT, 1, 1, 0),
    ("negative bound dropped", w("[[-5, 150]]"), GT, 1, 1, 0),
    ("reversed pair dropped, the other kept", w("[[150, 100], [600, 640]]"), GT, 1, 1, ONE_OF_TWO),
    ("zero-length pair dropped", w("[[100, 100]]"), GT, 1, 1, 0),
    ("junk items ignored", w('[[100, 150], "x", 7, [1, 2, 3], {"a": 1}, [600, 640]]'), GT, 1, 1, 1),
    ("invalid items dropped, valid kept", w("[[100, 150], [-3, 9], [700, 650], [600, 640]]"), GT, 1, 1, 1),
    ("overlapping and touching merged", w("[[100, 120], [120, 150], [600, 630], [625, 640]]"), GT, 1, 1, 1),
    ("intervals on a normal series", w("[[100, 150], [600, 640], [990, 5000]]"), NORMAL, 1, 0, 0),
    ("start past the series dropped", w("[[1000, 1200]]", "normal"), NORMAL, 1, 1, 0),
    ("empty list on a normal series", w("[]", "normal"), NORMAL, 1, 1, 1),
    ("empty tuple on a normal series", w("()", "normal"), NORMAL, 1, 1, 1),
    ("empty list on an anomalous series", w("[]"), GT, 1, 1, 0),
    ("empty answer", w("", "normal"), NORMAL, 0, 1, 0),
    ("blank answer", w(" \n ", "normal"), NORMAL, 0, 1, 0),
    ("none answer", w("none", "normal"), NORMAL, 0, 1, 0),
    ("None answer", w(" None ", "normal"), NORMAL, 0, 1, 0),
    ("null parses but holds no pair", w("null", "normal"), NORMAL, 1, 1, 0),
    ("class none is no class", w("[]", "none"), NORMAL, 1, 0, 1),
    ("class no anomaly is no class", w("[]", "no anomaly"), NORMAL, 1, 0, 1),
    ("class with anomaly suffix", w(RIGHT, "global point anomaly"), GT, 1, 0, 1),
    ("class case and spaces", w(RIGHT, "  Global \n  POINT "), GT, 1, 1, 1),
    ("class global", w(RIGHT, "global"), GT, 1, 1, 1),
    ("class contextual", w(RIGHT, "Contextual"), CTX, 1, 1, 1),
    ("class with underscore", w(RIGHT, "global_point"), GT, 1, 0, 1),
    ("class in quotes", w(RIGHT, '"global point"'), GT, 1, 0, 1),
    ("class json list", w(RIGHT, '["global point", "trend"]'), GT, 1, 1, 1),
    ("class json object", w(RIGHT, '{"prediction": "Global Point"}'), GT, 1, 1, 1),
    ("class seasonality is no class", w(RIGHT, "seasonality"), GT, 1, 0, 1),
    ("first class block wins (wrong first)", w(RIGHT, "trend") + "<class>global point</class>", GT, 1, 0, 1),
    ("first class block wins (right first)", w(RIGHT) + "<class>trend</class>", GT, 1, 1, 1),
    ("last answer block wins", w("[[1, 2]]") + f"<answer>{RIGHT}</answer>", GT, 1, 1, 1),
    ("last answer block is read even if empty", w(RIGHT) + "<answer>[]</answer>", GT, 1, 1, 0),
    ("unclosed last answer ignored", w(RIGHT) + "<answer>[[1, 2]]", GT, 1, 1, 1),
    ("no think block", f"<answer>{RIGHT}</answer><class>global point</class>", GT, 0, 1, 1),
    ("unclosed think", f"<think>hmm<answer>{RIGHT}</answer><class>global point</class>", GT, 0, 1, 1),
    ("no class block", f"<think>x</think><answer>{RIGHT}</answer>", GT, 0, 0, 1),
    ("unclosed class", f"<think>x</think><answer>{RIGHT}</answer><class>global point", GT, 0, 0, 1),
    ("no answer block", "<think>x</think><class>global point</class>", GT, 0, 1, 0),
    ("upper-case tags", f"<THINK>x</THINK><Answer>{RIGHT}</ANSWER><CLASS>global point</Class>", GT, 1, 1, 1),
    (
        "tags across lines",
        (
            "<think>\nline 1\nline 2\n</think>\n<answer>\n[\n [100, 150],\n [600, 640]\n]\n"
            "</answer>\n<class>\nglobal point\n</class>"
        ),
        GT,
        1,
        1,
        1,
    ),
    (
        "spaces inside a tag are not a tag",
        f"<think>x</think>< answer >{RIGHT}</answer><class>global</class>",
        GT,
        0,
        1,
        0,
    ),
    ("code is never evaluated", w("__import__('os').getcwd()"), GT, 0, 1, 0),
    ("arithmetic is not a literal", w("[[50 + 50, 150]]"), GT, 0, 1, 0),
    ("no tags at all", "global point at 100-150", GT, 0, 0, 0),
    ("empty string", "", NORMAL, 0, 0, 0),
    ("huge think, right answer", w(RIGHT, think="x" * 1_000_000), GT, 1, 1, 1),
    ("huge list of repeated pairs", w(json.dumps([[100, 150]] * 20_000 + [[600, 640]])), GT, 1, 1, 1),
    ("huge prose answer", w("y " * 500_000), GT, 0, 1, 0),
    ("deeply nested list", w("[" * 100_000 + "]" * 100_000), GT, 0, 1, 0),
    ("integer over the digit limit", w("[[1" + "0" * 5000 + ", 5]]"), GT, 0, 1, 0),
    ("many opening tags, none closed", "<answer>" * 50_000 + "<think>" * 50_000, GT, 0, 0, 0),
]


def test_the_table_holds_at_least_forty_cases_with_unique_names():
    names = [c[0] for c in CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)


@pytest.mark.parametrize(("text", "gt", "fmt", "cls", "loc"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_strict_rules(text, gt, fmt, cls, loc):
    out = compute_score("anomseer/anomllm/range", text, gt, parser="strict")
    assert (out["fmt"], out["cls"]) == (fmt, cls)
    assert out["loc"] == pytest.approx(loc, abs=1e-12)
    assert out["score"] == pytest.approx(0.7 * loc + 0.2 * cls + 0.1 * fmt)


def test_strict_is_the_default():
    text = w("[[100, 150], [600, 640]")
    assert compute_score("s", text, GT)["score"] == compute_score("s", text, GT, parser="strict")["score"] == 0.2


@pytest.mark.parametrize(
    ("answer", "intervals", "reason"),
    [
        (RIGHT, [(100, 150), (600, 640)], "ok"),
        ("[[640, 600], [100, 150]]", [(100, 150)], "1 invalid item(s) dropped"),
        ("[[990, 5000]]", [(990, 1000)], "ok"),
        ("[[1, 2]]", [(1, 2)], "ok"),
        ("[]", [], "ok"),
        ("[[5, 1]]", [], "no valid interval"),
        ("[[1, 2]", [], "unparseable answer"),
        ("none", [], "empty answer"),
    ],
)
def test_intervals_and_reasons(answer, intervals, reason):
    parsed = parse_strict(w(answer), L)
    assert parsed.intervals == intervals and parsed.reason == reason
    assert parsed.answer_ok == (reason in ("ok", "1 invalid item(s) dropped"))


def test_python_warnings_about_model_text_are_silenced():
    code = (
        "from verl_anomseer.scoring.strict import parse_strict\n"
        "for text in ('[1if 1 else 2]', '[0x1for x in y]', '[\"\\\\d\"]'):\n"
        "    parse_strict('<think>x</think><answer>' + text + '</answer><class>trend</class>', 100)\n"
    )
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == ""
