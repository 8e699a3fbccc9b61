"""The parquet row (DESIGN §3): how it is built and how it is checked.

A row has ``data_source`` "anomseer/<suite>/<category>", ``prompt`` (one user turn starting with ``<image>``),
``images`` ``[{"bytes": PNG, "path": None}]``, ``reward_model`` ``{"style": "rule", "ground_truth":
{"intervals", "label", "length"}}``, ``extra_info`` (``expcot``, ``expcot_mode``, ``category``, ``suite``,
``series_id``, ``split``, ``index``) and ``series`` (the raw values). ``validate_row`` raises ``RowError``
naming the row and the field.
"""

from __future__ import annotations

import math

from verl_anomseer.series.prompt import IMAGE_PLACEHOLDER
from verl_anomseer.series.taxonomy import CLASSES, SUITES, class_for

EXPCOT_MODES = ("faithful", "clean")
SPLITS = ("train", "test")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXTRA_INFO_FIELDS = {
    "expcot": str,
    "expcot_mode": str,
    "category": str,
    "suite": str,
    "series_id": str,
    "split": str,
    "index": int,
}


class RowError(ValueError):
    """A malformed row: ``row_index`` and dotted ``field`` say where."""

    def __init__(self, row_index: int, field: str, problem: str):
        self.row_index, self.field, self.problem = row_index, field, problem
        super().__init__(f"row {row_index}: field {field!r}: {problem}")


def series_id(suite: str, category: str, split: str, index: int) -> str:
    """The stable id of one sample, e.g. "anomllm/range/train/00017"."""
    return f"{suite}/{category}/{split}/{index:05d}"


def make_row(series, split: str, index: int, png: bytes, prompt: str, expcot: str, expcot_mode: str) -> dict:
    """The parquet row of a generated ``Series`` (``series.generators.Series``)."""
    length = len(series.values)
    return {
        "data_source": f"anomseer/{series.suite}/{series.category}",
        "prompt": [{"role": "user", "content": prompt}],
        "images": [{"bytes": png, "path": None}],
        "reward_model": {
            "style": "rule",
            "ground_truth": {
                "intervals": [[int(s), int(e)] for s, e in series.intervals],
                "label": series.label,
                "length": length,
            },
        },
        "extra_info": {
            "expcot": expcot,
            "expcot_mode": expcot_mode,
            "category": series.category,
            "suite": series.suite,
            "series_id": series_id(series.suite, series.category, split, index),
            "split": split,
            "index": int(index),
        },
        "series": series.values.tolist(),
    }


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(condition: bool, row_index: int, field: str, problem: str) -> None:
    if not condition:
        raise RowError(row_index, field, problem)


def _get(container, key: str, row_index: int, field: str):
    _expect(isinstance(container, dict) and key in container, row_index, field, "missing")
    return container[key]


def _check_source(row: dict, i: int) -> tuple[str, str]:
    source = _get(row, "data_source", i, "data_source")
    parts = source.split("/") if isinstance(source, str) else []
    _expect(
        len(parts) == 3 and parts[0] == "anomseer",
        i,
        "data_source",
        f"expected 'anomseer/<suite>/<category>', got {source!r}",
    )
    suite, category = parts[1], parts[2]
    _expect(suite in SUITES, i, "data_source", f"unknown suite {suite!r}")
    _expect(category in SUITES[suite], i, "data_source", f"unknown category {category!r} for suite {suite!r}")
    return suite, category


def _check_prompt_and_images(row: dict, i: int) -> None:
    prompt = _get(row, "prompt", i, "prompt")
    _expect(isinstance(prompt, list) and len(prompt) == 1, i, "prompt", "expected a list with one user message")
    message = prompt[0]
    _expect(isinstance(message, dict) and message.get("role") == "user", i, "prompt[0].role", "expected 'user'")
    content = message.get("content")
    _expect(
        isinstance(content, str) and content.startswith(IMAGE_PLACEHOLDER),
        i,
        "prompt[0].content",
        f"expected text starting with {IMAGE_PLACEHOLDER}",
    )
    images = _get(row, "images", i, "images")
    _expect(
        isinstance(images, list) and len(images) == content.count(IMAGE_PLACEHOLDER),
        i,
        "images",
        f"expected {content.count(IMAGE_PLACEHOLDER)} image(s), one per placeholder",
    )
    for k, image in enumerate(images):
        _expect(isinstance(image, dict) and "bytes" in image, i, f"images[{k}]", "expected a {'bytes', 'path'} struct")
        data = image["bytes"]
        _expect(
            isinstance(data, bytes) and data.startswith(PNG_SIGNATURE), i, f"images[{k}].bytes", "expected PNG bytes"
        )


def _check_ground_truth(row: dict, i: int, category: str) -> int:
    reward_model = _get(row, "reward_model", i, "reward_model")
    _expect(
        isinstance(reward_model, dict) and reward_model.get("style") == "rule",
        i,
        "reward_model.style",
        "expected 'rule'",
    )
    gt = _get(reward_model, "ground_truth", i, "reward_model.ground_truth")
    _expect(isinstance(gt, dict), i, "reward_model.ground_truth", "expected a dict")
    length = _get(gt, "length", i, "reward_model.ground_truth.length")
    _expect(
        _is_int(length) and length > 0,
        i,
        "reward_model.ground_truth.length",
        f"expected a positive int, got {length!r}",
    )
    intervals = _get(gt, "intervals", i, "reward_model.ground_truth.intervals")
    field = "reward_model.ground_truth.intervals"
    _expect(isinstance(intervals, list), i, field, "expected a list of [start, end] pairs")
    previous_end = -1
    for pair in intervals:
        _expect(
            isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_int(v) for v in pair),
            i,
            field,
            f"{pair!r} is not an [int, int] pair",
        )
        start, end = pair
        _expect(0 <= start < end <= length, i, field, f"{list(pair)} is not inside [0, {length}) with start < end")
        _expect(start > previous_end, i, field, "intervals must be sorted, disjoint and not adjacent")
        previous_end = end
    label = _get(gt, "label", i, "reward_model.ground_truth.label")
    _expect(label in CLASSES, i, "reward_model.ground_truth.label", f"{label!r} is not one of {list(CLASSES)}")
    expected = class_for(category, bool(intervals))
    _expect(
        label == expected,
        i,
        "reward_model.ground_truth.label",
        f"{label!r} but a {category} series with {len(intervals)} interval(s) is {expected!r}",
    )
    return length


def _check_extra_info(row: dict, i: int, suite: str, category: str) -> None:
    extra = _get(row, "extra_info", i, "extra_info")
    _expect(isinstance(extra, dict), i, "extra_info", "expected a dict")
    for key, kind in EXTRA_INFO_FIELDS.items():
        value = _get(extra, key, i, f"extra_info.{key}")
        ok = _is_int(value) if kind is int else isinstance(value, kind)
        _expect(ok, i, f"extra_info.{key}", f"expected {kind.__name__}, got {type(value).__name__}")
    _expect(extra["expcot_mode"] in EXPCOT_MODES, i, "extra_info.expcot_mode", f"expected one of {list(EXPCOT_MODES)}")
    _expect(extra["split"] in SPLITS, i, "extra_info.split", f"expected one of {list(SPLITS)}")
    _expect(
        extra["suite"] == suite and extra["category"] == category,
        i,
        "extra_info.category",
        "disagrees with data_source",
    )
    _expect(extra["index"] >= 0, i, "extra_info.index", "expected a non-negative int")


def _check_series(row: dict, i: int, length: int) -> None:
    values = _get(row, "series", i, "series")
    _expect(isinstance(values, list) and len(values) == length, i, "series", f"expected a list of {length} floats")
    finite = all(_is_int(v) or (isinstance(v, float) and math.isfinite(v)) for v in values)
    _expect(finite, i, "series", "expected finite numbers")


def validate_row(row: dict, row_index: int) -> None:
    """Raise ``RowError(row_index, field, problem)`` unless ``row`` follows the DESIGN §3 schema."""
    _expect(isinstance(row, dict), row_index, "<row>", f"expected a dict, got {type(row).__name__}")
    suite, category = _check_source(row, row_index)
    _check_prompt_and_images(row, row_index)
    length = _check_ground_truth(row, row_index, category)
    _check_extra_info(row, row_index, suite, category)
    _check_series(row, row_index, length)
