"""The canonical answer text a detector's output is written as, so it goes through the model's scorer."""

from __future__ import annotations

import json


def canonical_answer(intervals: list[tuple[int, int]], label: str, reasoning: str) -> str:
    """``<think>reasoning</think><answer>[[s, e], ...]</answer><class>label</class>`` (intervals end-exclusive)."""
    spans = json.dumps([[int(s), int(e)] for s, e in intervals])
    return f"<think>{reasoning}</think><answer>{spans}</answer><class>{label}</class>"
