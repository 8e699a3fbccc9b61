"""The parquet row (docs/data.md, "Row schema"): how it is built and how it is checked.

A row has ``data_source`` "anomseer/<suite>/<category>", ``prompt`` (one user turn starting with ``<image>``),
``images`` ``[{"bytes": PNG, "path": None}]``, ``reward_model`` ``{"style": "rule", "ground_truth":
{"intervals", "label", "length"}}``, ``extra_info`` (``expcot``, ``expcot_mode``, ``category``, ``suite``,
``series_id``, ``split``, ``index``, ``source``) and ``series`` (the values). ``validate_row`` raises ``RowError``
naming the row and the field.

Imported rows (suite ``files``, category = the file name) differ: ``extra_info.source`` holds ``file``,
``columns``, ``offset`` (the window's first row in the file), ``channels``, ``labelled`` and the plot scale
(``center``, ``half``: file value = center + half * plotted / 0.95); ``series`` holds the plotted values channel
after channel; an unlabelled row has no intervals and label None. Generated rows have ``source`` None.
"""

from __future__ import annotations

import math

import pyarrow as pa

from verl_anomseer.series.prompt import IMAGE_PLACEHOLDER
from verl_anomseer.series.taxonomy import CLASSES, FILES_SUITE, NORMAL, SUITES, class_for

EXPCOT_MODES = ("faithful", "clean")
SPLITS = ("train", "test")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the parquet columns and their types, as the builder writes them
ROW_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        (
            "reward_model",
            pa.struct(
                [
                    ("style", pa.string()),
                    (
                        "ground_truth",
                        pa.struct(
                            [
                                ("intervals", pa.list_(pa.list_(pa.int64()))),
                                ("label", pa.string()),
                                ("length", pa.int64()),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        (
            "extra_info",
            pa.struct(
                [
                    ("expcot", pa.string()),
                    ("expcot_mode", pa.string()),
                    ("category", pa.string()),
                    ("suite", pa.string()),
                    ("series_id", pa.string()),
                    ("split", pa.string()),
                    ("index", pa.int64()),
                    (
                        "source",
                        pa.struct(
                            [
                                ("file", pa.string()),
                                ("columns", pa.list_(pa.string())),
                                ("offset", pa.int64()),
                                ("channels", pa.int64()),
                                ("labelled", pa.bool_()),
                                ("center", pa.list_(pa.float64())),
                                ("half", pa.list_(pa.float64())),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        ("series", pa.list_(pa.float64())),
    ]
)
COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
_PYTHON_TYPES = {pa.string(): str, pa.int64(): int, pa.bool_(): bool}


def _python_fields(struct: pa.StructType) -> dict[str, type]:
    """The scalar and list fields of an arrow struct, with the Python type a row read back holds."""
    fields = [struct.field(i) for i in range(struct.num_fields)]
    return {
        f.name: list if pa.types.is_list(f.type) else _PYTHON_TYPES[f.type]
        for f in fields
        if f.type in _PYTHON_TYPES or pa.types.is_list(f.type)
    }


EXTRA_INFO_FIELDS = _python_fields(ROW_SCHEMA.field("extra_info").type)  # without the `source` struct
SOURCE_FIELDS = _python_fields(ROW_SCHEMA.field("extra_info").type.field("source").type)


class RowError(ValueError):
    """A malformed row: ``row_index`` and dotted ``field`` say where."""

    def __init__(self, row_index: int, field: str, problem: str):
        self.row_index, self.field, self.problem = row_index, field, problem
        super().__init__(f"row {row_index}: field {field!r}: {problem}")


def series_id(suite: str, category: str, split: str, index: int) -> str:
    """The stable id of one sample, e.g. "anomllm/range/train/00017"."""
    return f"{suite}/{category}/{split}/{index:05d}"


def _assemble(
    suite: str,
    category: str,
    sid: str,
    split: str,
    index: int,
    png: bytes,
    prompt: str,
    expcot: str,
    expcot_mode: str,
    intervals,
    label: str | None,
    length: int,
    values: list[float],
    source: dict | None,
) -> dict:
    return {
        "data_source": f"anomseer/{suite}/{category}",
        "prompt": [{"role": "user", "content": prompt}],
        "images": [{"bytes": png, "path": None}],
        "reward_model": {
            "style": "rule",
            "ground_truth": {"intervals": [[int(s), int(e)] for s, e in intervals], "label": label, "length": length},
        },
        "extra_info": {
            "expcot": expcot,
            "expcot_mode": expcot_mode,
            "category": category,
            "suite": suite,
            "series_id": sid,
            "split": split,
            "index": int(index),
            "source": source,
        },
        "series": values,
    }


def make_row(series, split: str, index: int, png: bytes, prompt: str, expcot: str, expcot_mode: str) -> dict:
    """The parquet row of a generated ``Series`` (``series.generators.Series``); ``extra_info.source`` is None."""
    sid = series_id(series.suite, series.category, split, index)
    return _assemble(
        series.suite,
        series.category,
        sid,
        split,
        index,
        png,
        prompt,
        expcot,
        expcot_mode,
        series.intervals,
        series.label,
        len(series.values),
        series.values.tolist(),
        None,
    )


def make_window_row(window, png: bytes, prompt: str, expcot: str) -> dict:
    """The parquet row of an imported window (``data.files.FileWindow``): category = file name, clean ExpCoT,
    ``series`` = the plotted values channel after channel, ``extra_info.source`` = where the rows come from.
    An unlabelled window has no intervals and label None (it can be evaluated, not trained on)."""
    values = window.values
    return _assemble(
        FILES_SUITE,
        window.part.file,
        window.series_id,
        window.split,
        window.index,
        png,
        prompt,
        expcot,
        "clean",
        window.intervals or (),
        window.label,
        int(values.shape[1]),
        values.ravel().tolist(),
        window.source,
    )


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
    if suite == FILES_SUITE:
        _expect(bool(category), i, "data_source", "expected the file name as the category")
        return suite, category
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


def _check_ground_truth(row: dict, i: int, category: str, source: dict | None) -> int:
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
    if source is not None and not source["labelled"]:
        _expect(
            label is None and not intervals,
            i,
            "reward_model.ground_truth",
            "an unlabelled row has no intervals and label None",
        )
        return length
    _expect(label in CLASSES, i, "reward_model.ground_truth.label", f"{label!r} is not one of {list(CLASSES)}")
    if source is not None:
        _expect(
            (label == NORMAL) == (not intervals),
            i,
            "reward_model.ground_truth.label",
            f"{label!r} does not fit {len(intervals)} interval(s)",
        )
        return length
    expected = class_for(category, bool(intervals))
    _expect(
        label == expected,
        i,
        "reward_model.ground_truth.label",
        f"{label!r} but a {category} series with {len(intervals)} interval(s) is {expected!r}",
    )
    return length


def _check_source_info(source, i: int) -> dict:
    _expect(isinstance(source, dict), i, "extra_info.source", "expected the file, columns and offset of the rows")
    for key, kind in SOURCE_FIELDS.items():
        value = _get(source, key, i, f"extra_info.source.{key}")
        ok = _is_int(value) if kind is int else isinstance(value, kind)
        _expect(ok, i, f"extra_info.source.{key}", f"expected {kind.__name__}, got {type(value).__name__}")
    _expect(source["offset"] >= 0 and source["channels"] >= 1, i, "extra_info.source", "offset >= 0, channels >= 1")
    _expect(
        len(source["columns"]) == source["channels"] == len(source["center"]) == len(source["half"]),
        i,
        "extra_info.source.columns",
        "expected one column, center and half per channel",
    )
    return source


def _check_extra_info(row: dict, i: int, suite: str, category: str) -> dict | None:
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
    if suite == FILES_SUITE:
        return _check_source_info(extra.get("source"), i)
    _expect(extra.get("source") is None, i, "extra_info.source", "only imported rows (suite files) have a source")
    return None


def _check_series(row: dict, i: int, size: int) -> None:
    values = _get(row, "series", i, "series")
    _expect(isinstance(values, list) and len(values) == size, i, "series", f"expected a list of {size} floats")
    finite = all(_is_int(v) or (isinstance(v, float) and math.isfinite(v)) for v in values)
    _expect(finite, i, "series", "expected finite numbers")


def validate_row(row: dict, row_index: int) -> None:
    """Raise ``RowError(row_index, field, problem)`` unless ``row`` follows the row schema (docs/data.md)."""
    _expect(isinstance(row, dict), row_index, "<row>", f"expected a dict, got {type(row).__name__}")
    suite, category = _check_source(row, row_index)
    _check_prompt_and_images(row, row_index)
    source = _check_extra_info(row, row_index, suite, category)
    length = _check_ground_truth(row, row_index, category, source)
    _check_series(row, row_index, length * (source["channels"] if source else 1))
