"""The evaluation on imported rows: unlabelled rows are answered but not scored; multivariate rows run per channel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from verl_anomseer.data.build import main as build
from verl_anomseer.eval.backends.detector import detector_answer
from verl_anomseer.eval.cli import main as evaluate
from verl_anomseer.expcot import ksigma_intervals
from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals


def _build(tmp_path, frame: pd.DataFrame, *extra) -> str:
    frame.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "data"
    assert (
        build(
            [
                "--suite",
                "files",
                "--input",
                str(tmp_path / "in.csv"),
                "--out",
                str(out),
                "--no-progress",
                "--workers",
                "1",
                *extra,
            ]
        )
        == 0
    )
    return str(out / "test.parquet")


def _records(out):
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_unlabelled_rows_are_answered_not_scored(tmp_path):
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(2000) / 7) + rng.normal(0, 0.05, 2000)
    values[700:705] += 3
    data = _build(tmp_path, pd.DataFrame({"v": values}))
    out = tmp_path / "eval"
    assert evaluate(["--data", data, "--backend", "detector", "--detector", "ksigma", "--out", str(out)]) == 0
    records = _records(out)
    assert [r["labelled"] for r in records] == [False, False]
    assert records[0]["pred_intervals"] == [[700, 705]] and "aff_f1" not in records[0]
    assert "2 answer(s) for unlabelled series" in (out / "report.md").read_text()


def test_multivariate_detector_answer_is_the_union_over_channels():
    rng = np.random.default_rng(1)
    values = np.vstack([np.sin(np.arange(500) / 5), np.cos(np.arange(500) / 9)]) + rng.normal(0, 0.02, (2, 500))
    values[0, 100:103] += 4
    values[1, 300:310] -= 4
    text = detector_answer("ksigma", 0, values)
    union = np.logical_or(*[intervals_to_mask(ksigma_intervals(row), 500) for row in values])
    assert f"<answer>{json.dumps([list(i) for i in mask_to_intervals(union)])}</answer>" in text
    assert "<class>global point</class>" in text


def test_labelled_multivariate_rows_are_scored(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": np.sin(np.arange(1000) / 6), "b": rng.normal(0, 0.1, 1000), "label": 0})
    frame.loc[400:409, "b"] += 3
    frame.loc[400:409, "label"] = 1
    data = _build(tmp_path, frame, "--anomaly-class", "global point")
    out = tmp_path / "eval"
    assert evaluate(["--data", data, "--backend", "detector", "--detector", "ksigma", "--out", str(out)]) == 0
    (record,) = _records(out)
    assert record["gt_intervals"] == [[400, 410]] and record["pred_intervals"] == [[400, 410]]
    assert record["aff_f1"] == 1.0 and record["cls"] == 1.0
