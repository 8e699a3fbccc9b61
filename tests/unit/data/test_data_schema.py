"""The row schema: builder rows validate; each kind of damage is reported with its row and field."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verl_anomseer.data.build import Sample, make_sample_row
from verl_anomseer.data.schema import RowError, series_id, validate_row


@pytest.fixture(scope="module")
def rows():
    return [
        make_sample_row(Sample("anomllm", "range", "train", 0, 20260, 1000, "faithful")),
        make_sample_row(Sample("vta", "shapelet", "test", 1, 5, 400, "clean")),
    ]


def test_builder_rows_validate(rows):
    for i, row in enumerate(rows):
        validate_row(row, i)
    assert all(row["reward_model"]["ground_truth"]["intervals"] for row in rows)  # the damage cases need GT
    assert rows[1]["extra_info"]["series_id"] == series_id("vta", "shapelet", "test", 1) == "vta/shapelet/test/00001"
    assert rows[1]["images"][0]["path"] is None


def _set(row, dotted, value):
    *parents, last = dotted.split(".")
    target = row
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value


DAMAGE = [
    ("data_source", "anomseer/anomllm/nope", "data_source"),
    ("data_source", KeyError, "data_source"),
    ("prompt.0.content", "no placeholder", "prompt[0].content"),
    ("prompt.0.role", "assistant", "prompt[0].role"),
    ("images", [], "images"),
    ("images.0.bytes", b"GIF89a", "images[0].bytes"),
    ("reward_model.style", "model", "reward_model.style"),
    ("reward_model.ground_truth.length", 0, "reward_model.ground_truth.length"),
    ("reward_model.ground_truth.intervals", [[5, 3]], "reward_model.ground_truth.intervals"),
    ("reward_model.ground_truth.intervals", [[1, 4], [4, 9]], "reward_model.ground_truth.intervals"),
    ("reward_model.ground_truth.intervals", [[1.0, 4]], "reward_model.ground_truth.intervals"),
    ("reward_model.ground_truth.label", "unknown", "reward_model.ground_truth.label"),
    ("reward_model.ground_truth.label", "normal", "reward_model.ground_truth.label"),
    ("extra_info.expcot", None, "extra_info.expcot"),
    ("extra_info.expcot_mode", "gt", "extra_info.expcot_mode"),
    ("extra_info.split", "dev", "extra_info.split"),
    ("extra_info.index", True, "extra_info.index"),
    ("extra_info.category", "point", "extra_info.category"),
    ("series", [0.0, 1.0], "series"),
    ("series", KeyError, "series"),
]


@pytest.mark.parametrize(("path", "value", "field"), DAMAGE, ids=[f"{p}={v!r}"[:40] for p, v, _ in DAMAGE])
def test_damage_names_row_and_field(rows, path, value, field):
    row = copy.deepcopy(rows[0])
    _set(row, path, value)
    with pytest.raises(RowError) as info:
        validate_row(row, 17)
    assert info.value.row_index == 17 and info.value.field == field
    assert str(info.value).startswith(f"row 17: field {field!r}: ")


def test_nan_in_series_is_refused(rows):
    row = copy.deepcopy(rows[1])
    row["series"][3] = float("nan")
    with pytest.raises(RowError, match="row 0: field 'series'"):
        validate_row(row, 0)


def test_non_dict_row():
    with pytest.raises(RowError, match="row 2"):
        validate_row(["not", "a", "row"], 2)


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
PATHS = [path for path, _, _ in DAMAGE] + ["reward_model.ground_truth", "extra_info", "prompt", "prompt.0", "images.0"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PATHS), JSON_LIKE, st.integers(0, 1))
def test_any_damage_gives_row_error_or_passes_never_another_exception(rows, path, value, which):
    """The validator is a parser of untrusted rows: it may accept or raise RowError, nothing else."""
    row = copy.deepcopy(rows[which])
    try:
        _set(row, path, value)
    except (KeyError, IndexError, TypeError):
        return  # the path no longer exists in this row
    try:
        validate_row(row, 5)
    except RowError as e:
        assert e.row_index == 5 and str(e).startswith("row 5: field ")
