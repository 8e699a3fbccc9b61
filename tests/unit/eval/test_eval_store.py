"""The JSONL store: appends survive, a torn last line is dropped, mid-file corruption is an error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.store import PredictionStore, read_records

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
record_lists = st.lists(
    st.builds(lambda i, t: {"series_id": f"s{i}", "seed": 0, "text": t}, st.integers(0, 10**6), texts),
    min_size=1,
    max_size=6,
    unique_by=lambda r: r["series_id"],
)


def test_append_and_reopen(tmp_path):
    path = tmp_path / "p.jsonl"
    store = PredictionStore(path)
    store.append({"series_id": "a", "seed": 0, "text": "é\n<answer>"})
    store.append({"series_id": "a", "seed": 1, "text": ""})
    reopened = PredictionStore(path)
    assert reopened.records == store.records
    assert reopened.done == {("a", 0), ("a", 1)}


@settings(max_examples=200)
@given(records=record_lists, cut=st.integers(0, 10**6))
def test_any_truncation_keeps_exactly_the_complete_records(tmp_path_factory, records, cut):
    """A crash at any byte loses only the record being written; the next append starts a fresh line."""
    path = tmp_path_factory.mktemp("store") / "p.jsonl"
    store = PredictionStore(path)
    for record in records:
        store.append(record)
    data = path.read_bytes()
    cut = cut % (len(data) + 1)
    path.write_bytes(data[:cut])
    complete = data[:cut].count(b"\n")
    reopened = PredictionStore(path)
    expected = records[:complete]
    if complete < len(records) and data[:cut].endswith(json.dumps(records[complete], ensure_ascii=False).encode()):
        expected = records[: complete + 1]  # the record is whole, only its newline was lost
    assert reopened.records == expected
    reopened.append({"series_id": "new", "seed": 0})
    assert read_records(path)[0] == [*expected, {"series_id": "new", "seed": 0}]


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"series_id": "a", "seed": 0}\n{"series_id": \n{"series_id": "b", "seed": 0}\n')
    with pytest.raises(EvalSetupError, match="line 2 is not JSON"):
        PredictionStore(path)
