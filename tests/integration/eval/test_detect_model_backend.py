"""``verl_anomseer.detect --model M``: with ``--backend openai`` against a fake endpoint, each window's own plot and
prompt go out and its answer (window coordinates) comes back onto the file's rows through the vote; with
``--backend hf``, the tiny local Qwen2.5-VL answers every window through the real processor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from verl_anomseer.data.files import part_windows, series_parts
from verl_anomseer.detect.cli import main
from verl_anomseer.series.files import read_series_file
from verl_anomseer.series.render import render_panels_png

pytestmark = pytest.mark.integration


def test_model_answers_map_back_to_file_rows(tmp_path, fake_openai):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": np.sin(np.arange(2000) / 9) + rng.normal(0, 0.05, 2000), "b": np.cos(np.arange(2000))})
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    (part,) = series_parts(read_series_file(path))
    windows = part_windows(part, 1000, 500, False)
    assert [w.start for w in windows] == [0, 500, 1000]
    for w in windows:  # each window "sees" rows 1200-1209 if they are in it, and says so in its own coordinates
        spans = [[1200 - w.start, 1210 - w.start]] if w.start <= 1200 < w.end else []
        fake_openai.answers[render_panels_png(w.values)] = (
            f"<think>look</think><answer>{spans}</answer><class>{'trend' if spans else 'normal'}</class>"
        )
    out = tmp_path / "out"
    assert main([str(path), "--model", "fake-vl", "--backend", "openai", "--out", str(out), "--no-progress"]) == 0
    table = pd.read_csv(out / "anomalies.csv")
    assert table.to_dict("records") == [
        {"file": "m.csv", "column": "a+b", "start": 1200, "end": 1210, "label": "trend"}
    ]
    prompts = [r["payload"]["messages"][0]["content"] for r in fake_openai.requests]
    assert len(prompts) == 3 and all("2 channels" in p[-1]["text"] for p in prompts)


def test_hf_backend_answers_every_window_with_the_real_processor(tmp_path, tiny_vl_model):
    """The tiny random Qwen2.5-VL through ``--backend hf``: every window (stacked-panel image) gets an answer that
    is kept and parsed, however unreadable; the outputs are written."""
    t = np.arange(1200)
    pd.DataFrame({"a": np.sin(t / 9), "b": np.cos(t / 5)}).to_csv(tmp_path / "h.csv", index=False)
    out = tmp_path / "out"
    argv = [
        str(tmp_path / "h.csv"),
        "--model",
        str(tiny_vl_model),
        "--backend",
        "hf",
        "--device",
        "cpu",
        "--max-new-tokens",
        "8",
        "--window",
        "600",
        "--stride",
        "600",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "windows.jsonl").read_text().splitlines()]
    assert [(r["start"], r["end"]) for r in records] == [(0, 600), (600, 1200)]
    assert all(isinstance(r["text"], str) and r["reason"] for r in records)
    assert (out / "anomalies.csv").read_text().startswith("file,column,start,end,label")
    assert json.loads((out / "run.json").read_text())["backend"] == "hf"
