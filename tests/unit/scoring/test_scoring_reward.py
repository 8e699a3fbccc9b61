"""The reward function: formula, key-set contract, configuration, ground-truth validation, hostile text."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from verl_anomseer.scoring.answer import PARSERS
from verl_anomseer.scoring.metrics import affiliation_prf, point_prf
from verl_anomseer.scoring.reward import SCORE_KEYS, GroundTruthError, compute_score

GT = {"intervals": [[100, 150], [600, 640]], "label": "global point", "length": 1000}
NORMAL_GT = {"intervals": [], "label": "normal", "length": 1000}
SRC = "anomseer/anomllm/range"


def answer(intervals: str, cls: str = "global point") -> str:
    return f"<think>a sharp jump near 100</think><answer>{intervals}</answer><class>{cls}</class>"


def test_perfect_answer_scores_one():
    out = compute_score(SRC, answer("[[100, 150], [600, 640]]"), GT)
    assert out["score"] == 1.0 and out["loc"] == 1.0 and out["pred_label"] == "global point"
    assert tuple(out) == SCORE_KEYS


def test_score_is_the_weighted_sum_of_independently_computed_terms():
    pred = [[90, 140]]
    out = compute_score(SRC, answer("[[90, 140]]", cls="contextual"), GT)
    metrics = point_prf(pred, GT["intervals"], 1000) + affiliation_prf(pred, GT["intervals"], 1000)
    loc = sum(metrics) / 6
    assert out["loc"] == pytest.approx(loc)
    assert out["cls"] == 0.0 and out["fmt"] == 1.0 and out["pred_label"] == "contextual point"
    assert out["score"] == pytest.approx(0.7 * loc + 0.1)
    assert [out[k] for k in ("pt_p", "pt_r", "pt_f1", "aff_p", "aff_r", "aff_f1")] == pytest.approx(list(metrics))


def test_normal_series_edge_rules():
    assert compute_score(SRC, answer("[]", "normal"), NORMAL_GT)["score"] == 1.0
    out = compute_score(SRC, answer("[[5, 9]]", "normal"), NORMAL_GT)  # one side empty -> loc 0
    assert out["loc"] == 0.0 and out["score"] == pytest.approx(0.3)
    out = compute_score(SRC, answer("[]", "normal"), GT)
    assert out["loc"] == 0.0 and out["score"] == pytest.approx(0.1)


def test_unparseable_or_all_invalid_answer_gets_no_localization():
    out = compute_score(SRC, answer("somewhere in the middle"), GT)
    assert (out["loc"], out["fmt"], out["cls"]) == (0.0, 0.0, 1.0)
    out = compute_score(SRC, answer("[[-5, -1]]"), NORMAL_GT)  # parsed, nothing valid: not an empty prediction
    assert (out["loc"], out["fmt"]) == (0.0, 1.0)


def test_weights_and_localization_recipe_come_from_reward_kwargs():
    text = answer("[[90, 140]]")
    out = compute_score(SRC, text, GT, weights={"loc": 0.5, "cls": 0.5, "fmt": 0.0}, loc_metrics=["aff_f1"])
    assert out["loc"] == pytest.approx(out["aff_f1"])
    assert out["score"] == pytest.approx(0.5 * out["aff_f1"] + 0.5)
    # what verl passes: OmegaConf containers from reward.custom_reward_function.reward_kwargs
    kwargs = OmegaConf.create({"weights": {"loc": 1.0, "cls": 0.0, "fmt": 0.0}, "loc_metrics": ["pt_f1"]})
    out = compute_score(SRC, text, GT, **kwargs)
    assert out["score"] == pytest.approx(out["pt_f1"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"loc": 0.9}}, "summing to 1"),
        ({"weights": {"loc": 1.2, "cls": -0.2}}, "non-negative"),
        ({"weights": {"location": 1.0}}, "unknown key"),
        ({"loc_metrics": ["f1"]}, "unknown"),
        ({"parser": "authors"}, r"reward_kwargs.parser: unknown 'authors'; choose one of \['lenient', 'strict'\]"),
    ],
)
def test_bad_reward_kwargs_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_score(SRC, answer("[]"), GT, **kwargs)


@pytest.mark.parametrize(
    ("ground_truth", "field"),
    [
        (None, r"ground_truth: expected a mapping"),
        ({"intervals": [], "label": "normal"}, r"\['length'\]: missing"),
        ({"intervals": [], "length": 10}, r"\['label'\]: missing"),
        ({"label": "normal", "length": 10}, r"\['intervals'\]: missing"),
        ({"intervals": [], "label": "normal", "length": 0}, r"\['length'\]: must be positive"),
        ({"intervals": [], "label": "normal", "length": "10"}, r"\['length'\]: expected an integer"),
        ({"intervals": [], "label": "unknown", "length": 10}, r"\['label'\]"),
        ({"intervals": "[[1, 2]]", "label": "trend", "length": 10}, r"\['intervals'\]: expected a list"),
        ({"intervals": [[1, 2], [5, 3]], "label": "trend", "length": 10}, r"\['intervals'\]\[1\]: need 0 <= start"),
        ({"intervals": [[1, 20]], "label": "trend", "length": 10}, r"\['intervals'\]\[0\]: need"),
        ({"intervals": [[1, 2, 3]], "label": "trend", "length": 10}, r"\['intervals'\]\[0\]: expected \[start, end\)"),
        ({"intervals": [[1.5, 3]], "label": "trend", "length": 10}, r"\['intervals'\]\[0\]\[0\]: expected an integer"),
        ({"intervals": [[True, 3]], "label": "trend", "length": 10}, r"\['intervals'\]\[0\]\[0\]"),
        ({"intervals": [[float("nan"), 3]], "label": "trend", "length": 10}, r"\['intervals'\]\[0\]\[0\]"),
    ],
)
def test_malformed_ground_truth_is_a_clear_error(ground_truth, field):
    with pytest.raises(GroundTruthError, match=field):
        compute_score(SRC, answer("[]"), ground_truth)
    assert issubclass(GroundTruthError, ValueError)


def test_ground_truth_after_a_parquet_round_trip(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    rows = [{"style": "rule", "ground_truth": GT}, {"style": "rule", "ground_truth": NORMAL_GT}]
    table = pa.table({"reward_model": rows})
    pq.write_table(table, tmp_path / "t.parquet")
    rows = pq.read_table(tmp_path / "t.parquet").to_pandas()["reward_model"]
    gt, normal = rows[0]["ground_truth"], rows[1]["ground_truth"]
    assert isinstance(gt["intervals"], np.ndarray)  # what verl's dataset hands over
    assert compute_score(SRC, answer("[[100, 150], [600, 640]]"), gt)["score"] == 1.0
    assert compute_score(SRC, answer("[]", "normal"), normal)["score"] == 1.0


def test_grounding_hook_adds_exactly_one_key(monkeypatch):
    calls = []
    fake = types.ModuleType("verl_anomseer.grounding.reward_term")

    def grounding_score(response, reference, config):
        calls.append((response, reference, config))
        return 0.25

    fake.grounding_score = grounding_score
    monkeypatch.setitem(sys.modules, "verl_anomseer.grounding.reward_term", fake)
    text = answer("[]")
    out = compute_score(SRC, text, GT, extra_info={"expcot": "trace"}, grounding=OmegaConf.create({"tau": 0.5}))
    assert tuple(out) == SCORE_KEYS + ("grounding",) and out["grounding"] == 0.25
    assert calls == [(text, "trace", {"tau": 0.5})] and type(calls[0][2]) is dict
    assert tuple(compute_score(SRC, text, GT, grounding=None)) == SCORE_KEYS
    assert len(calls) == 1


def _check(out: dict) -> None:
    assert tuple(out) == SCORE_KEYS
    for key in SCORE_KEYS[:-1]:
        assert isinstance(out[key], float) and not math.isnan(out[key]) and 0.0 <= out[key] <= 1.0, key
    assert out["score"] == pytest.approx(0.7 * out["loc"] + 0.2 * out["cls"] + 0.1 * out["fmt"])


TOKENS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<class>",
    "</class>",
    "[",
    "]",
    ",",
    "{",
    "}",
    '"start":',
    '"end":',
    "0",
    "7",
    "150",
    "640",
    "999",
    "1e308",
    "-3",
    "NaN",
    "global",
    "normal",
    " ",
]


@pytest.mark.slow  # 10,000 examples per parser: ~15 s each on an idle 2-core machine
@pytest.mark.parametrize("parser", sorted(PARSERS))
@settings(max_examples=10_000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    text=st.one_of(st.text(max_size=200), st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)),
    normal=st.booleans(),
)
def test_any_text_scores_in_unit_interval(parser, text, normal):
    _check(compute_score(SRC, text, NORMAL_GT if normal else GT, parser=parser))


@settings(max_examples=1_000, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(-100, 1100), st.integers(-100, 1100)), max_size=30),
    cls=st.sampled_from(["global point", "trend", "Contextual", "nonsense"]),
    parser=st.sampled_from(sorted(PARSERS)),
)
def test_structured_answers_score_in_unit_interval(pairs, cls, parser):
    text = answer(str([list(p) for p in pairs]), cls)
    _check(compute_score(SRC, text, GT, parser=parser))
    _check(compute_score(SRC, text, NORMAL_GT, parser=parser))


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_bad_input_corpus(parser):
    huge = answer("[" + ", ".join(f"[{i}, {i + 1}]" for i in range(0, 1000, 2)) + "]")
    for text in [
        "",
        "\x00" * 10,
        "x" * 1_000_000,
        huge,
        answer("[[1e308, -1e308]]"),
        answer("[[NaN, NaN]]"),
        "<answer>" + "[" * 200_000,
        answer("[[650, 600]]"),
        "<think><answer>[[1,2]]</class>",
        answer("[[1, 2]"),
        answer("__import__('os')"),
        answer("[" * 100_000),
    ]:
        _check(compute_score(SRC, text, GT, parser=parser))
