"""The task prompt: one leading image placeholder, the length, every class, the answer format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verl_anomseer.series.prompt import build_prompt
from verl_anomseer.series.taxonomy import CLASSES


@given(st.integers(1, 10**6))
def test_prompt_states_length_classes_and_format(length):
    text = build_prompt(length)
    assert text.startswith("<image>") and text.count("<image>") == 1
    assert f"length {length}" in text and f"to {length - 1}" in text
    for cls in CLASSES:
        assert cls in text
    for tag in ("<think>", "</think>", "<answer>", "</answer>", "<class>", "</class>", "<answer>[]</answer>"):
        assert tag in text


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_length_is_refused(bad):
    with pytest.raises(ValueError, match="positive"):
        build_prompt(bad)
