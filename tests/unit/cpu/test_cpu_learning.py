"""The demo's learning report: per-step reward parts from verl's rollout dumps, window means, curve, table."""

from __future__ import annotations

import json
import math

import pytest

from verl_anomseer.cpu.learning import before_after_table, plot_curve, report_means, step_curve, window_means


def _write_run(run, steps: dict[int, list[dict]], grounding: dict[int, float]) -> None:
    (run / "rollouts").mkdir(parents=True)
    for step, samples in steps.items():
        (run / "rollouts" / f"{step}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    lines = [
        json.dumps({"step": s, "data": {"timerpo/grounding_mean": g, "critic/score/mean": 0.0}})
        for s, g in grounding.items()
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


GT = {"intervals": [[100, 150]], "label": "trend", "length": 400}
RIGHT = "<think>x</think><answer>[[100, 150]]</answer><class>trend</class>"  # fmt 1, cls 1, loc 1
WRONG_CLASS_EMPTY = "<think>x</think><answer>[]</answer><class>normal</class>"  # fmt 1, cls 0, loc 0
TRUNCATED = "<think>x</think><answer>[[100, 150]</answer><class>trend</class>"  # strict: fmt 0, cls 1, loc 0


def _sample(output, score):
    return {"input": "prompt", "output": output, "gts": GT, "score": score, "step": 0, "uid": "u"}


def test_step_curve_averages_each_part_per_step_in_step_order(tmp_path):
    steps = {
        10: [_sample(RIGHT, 1.0)],
        2: [_sample(WRONG_CLASS_EMPTY, 0.1), _sample(TRUNCATED, 0.2)],
        1: [_sample("garbage", 0.0)] * 4,
    }
    _write_run(tmp_path, steps, {1: 0.25, 2: 0.75})
    curve = step_curve(tmp_path)
    assert [r["step"] for r in curve] == [1, 2, 10]  # numeric order, not 1, 10, 2
    assert [r["n"] for r in curve] == [4, 2, 1]
    assert (curve[1]["score"], curve[1]["fmt"], curve[1]["cls"], curve[1]["loc"]) == pytest.approx((0.15, 0.5, 0.5, 0))
    assert (curve[2]["fmt"], curve[2]["cls"], curve[2]["loc"]) == (1.0, 1.0, 1.0)
    assert curve[0]["fmt"] == curve[0]["cls"] == curve[0]["loc"] == 0.0
    assert [r["grounding"] for r in curve[:2]] == [0.25, 0.75] and math.isnan(curve[2]["grounding"])
    assert step_curve(tmp_path, parser="lenient")[1]["fmt"] == 1.0  # the truncated answer reads under lenient


def test_window_means_and_their_guard(tmp_path):
    curve = [{"score": s} for s in (0.0, 0.2, 0.4, 0.5, 0.7, 0.9)]
    assert window_means(curve, 2) == pytest.approx((0.1, 0.8))
    assert window_means(curve, 3) == pytest.approx((0.2, 0.7))
    with pytest.raises(ValueError, match="at least 8 steps"):
        window_means(curve, 4)


def test_curve_png_and_missing_grounding(tmp_path):
    _write_run(tmp_path, {s: [_sample(RIGHT, 0.1 * s)] for s in range(1, 5)}, {})
    path = plot_curve(step_curve(tmp_path), tmp_path / "curve.png", "t")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_report_means_reads_the_all_series_row_and_the_table_shows_percent(tmp_path):
    rows = [
        "subset,kind,name,metric,mean,std,n_series,n_seeds",
        "all,average,all series,score,0.25,,16,1",
        "all,average,all series,fmt,0.5,,16,1",
        "anomalous,average,all series,score,0.9,,10,1",
        "all,category,range,score,0.7,,2,1",
    ]
    (tmp_path / "report.csv").write_text("\n".join(rows) + "\n")
    assert report_means(tmp_path / "report.csv") == {"score": 0.25, "fmt": 0.5}
    table = before_after_table([("train", {"score": 0.25, "fmt": 0.5}, {"score": 0.5, "fmt": 1.0})])
    line = table.splitlines()[-1]
    assert line.startswith("train") and "25.0 ->  50.0" in line and "50.0 -> 100.0" in line and "nan" in line


def test_the_table_reads_only_metrics_the_evaluation_report_has():
    from verl_anomseer.cpu.learning import TABLE_METRICS
    from verl_anomseer.eval.report import REPORT_METRICS

    assert set(TABLE_METRICS) <= set(REPORT_METRICS)
