"""``python -m verl_anomseer.detect``: a real labelled series, outputs recomputed independently, resume, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import precision_recall_fscore_support

from verl_anomseer.detect.cli import main
from verl_anomseer.detect.outputs import ANOMALY_COLUMNS
from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals

QUIET = ["--no-progress"]


def aeon_kdd_tsad_135() -> Path:
    """The UCR KDD-TSAD 135 test series (InternalBleeding16) as aeon ships it; read in place, never copied."""
    spec = importlib.util.find_spec("aeon")
    if spec is None:
        pytest.skip(
            "aeon is not installed; `pip install --no-deps aeon==1.6.0` (its numba/pandas pins conflict with "
            "ours; the tests only read its data files, never import it)"
        )
    path = Path(spec.submodule_search_locations[0]) / "datasets/data/KDD-TSAD_135"
    return path / "135_UCR_Anomaly_InternalBleeding16_TEST.csv"


def _mask_from_csv(path: Path, rows: int) -> np.ndarray:
    table = pd.read_csv(path)
    assert tuple(table.columns) == ANOMALY_COLUMNS
    return intervals_to_mask(zip(table["start"], table["end"]), rows)


def test_real_series_report_is_recomputed_from_the_csv_and_the_labels(tmp_path):
    ref = pytest.importorskip("tsadmetrics.utils.functions_affiliation")
    source = aeon_kdd_tsad_135()
    out = tmp_path / "out"
    assert main([str(source), "--detector", "discord", "--out", str(out), *QUIET]) == 0
    truth = pd.read_csv(source)["is_anomaly"].to_numpy() == 1  # read independently of the importer
    rows = len(truth)
    predicted = _mask_from_csv(out / "anomalies.csv", rows)
    assert predicted.any() and (predicted & truth).any()  # the discord lands on the labelled anomaly
    report = pd.read_csv(out / "report.csv").iloc[0]
    assert report["rows"] == rows and report["true_intervals"] == len(mask_to_intervals(truth))
    p, r, f1, _ = precision_recall_fscore_support(truth, predicted, average="binary", zero_division=0)
    assert (report["pt_p"], report["pt_r"], report["pt_f1"]) == pytest.approx((p, r, f1), abs=1e-12)
    expected = ref.pr_from_events(mask_to_intervals(predicted), mask_to_intervals(truth), (0, rows))
    assert report["aff_p"] == pytest.approx(expected["precision"], abs=1e-9)
    assert report["aff_r"] == pytest.approx(expected["recall"], abs=1e-9)
    (plot,) = (out / "plots").iterdir()
    assert Image.open(plot).format == "PNG" and source.name in plot.name
    assert "Detection report" in (out / "report.md").read_text()


def test_ucr_name_convention_matches_aeons_labels(tmp_path):
    source = aeon_kdd_tsad_135()
    frame = pd.read_csv(source)
    named = tmp_path / "135_UCR_Anomaly_InternalBleeding16_1200_4187_4199.txt"  # the archive's name for this series
    np.savetxt(named, frame["value"].to_numpy())
    out = tmp_path / "out"
    assert main([str(named), "--detector", "ksigma", "--out", str(out), *QUIET]) == 0
    report = pd.read_csv(out / "report.csv").iloc[0]
    assert report["true_intervals"] == 1
    assert mask_to_intervals(frame["is_anomaly"].to_numpy() == 1) == [(4187, 4199)]


def _synthetic(tmp_path, labelled=True) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(3000)
    frame = pd.DataFrame({"a": np.sin(t / 8) + rng.normal(0, 0.05, 3000), "b": np.cos(t / 15)})
    frame.loc[1000:1004, "a"] += 4
    frame.loc[2500:2509, "b"] -= 4
    if labelled:
        frame["label"] = 0
        frame.loc[1000:1004, "label"] = 1
        frame.loc[2500:2509, "label"] = 1
    path = tmp_path / ("m.csv" if labelled else "u.csv")
    frame.to_csv(path, index=False)
    return path


def test_multivariate_union_resume_and_changed_settings(tmp_path, capsys):
    path = _synthetic(tmp_path)
    out = tmp_path / "out"
    assert main([str(path), "--detector", "ksigma", "--out", str(out), *QUIET]) == 0
    table = pd.read_csv(out / "anomalies.csv")
    assert set(table["column"]) == {"a+b"} and set(table["file"]) == {"m.csv"}
    assert [tuple(x) for x in table[["start", "end"]].to_numpy()] == [(1000, 1005), (2500, 2510)]
    assert pd.read_csv(out / "report.csv").iloc[0]["pt_f1"] == 1.0
    windows = (out / "windows.jsonl").read_bytes()
    assert len(windows.splitlines()) == 5  # window 1000, stride 500: starts 0, 500, ..., 2000
    assert main([str(path), "--detector", "ksigma", "--out", str(out), *QUIET]) == 0  # resumes: nothing new
    assert (out / "windows.jsonl").read_bytes() == windows
    capsys.readouterr()
    assert main([str(path), "--detector", "ksigma", "--window", "500", "--out", str(out), *QUIET]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings" in err


def test_unlabelled_input_gives_no_report(tmp_path):
    out = tmp_path / "out"
    assert main([str(_synthetic(tmp_path, labelled=False)), "--detector", "ksigma", "--out", str(out), *QUIET]) == 0
    assert (out / "anomalies.csv").is_file() and not (out / "report.csv").exists()
    assert json.loads((out / "run.json").read_text())["detector"] == "ksigma"


BAD = {
    "no backend": [],
    "both": ["--detector", "ksigma", "--model", "m", "--backend", "hf"],
    "model without backend": ["--model", "m"],
    "vote out of range": ["--detector", "ksigma", "--vote", "0"],
    "window too short": ["--detector", "ksigma", "--window", "10"],
    "window longer than series": ["--detector", "ksigma", "--window", "5000"],
    "missing value column": ["--detector", "ksigma", "--value-columns", "zzz"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_exit_2_one_line_nothing_written(tmp_path, capsys, case):
    path = _synthetic(tmp_path)
    out = tmp_path / "out"
    assert main([str(path), *BAD[case], "--out", str(out), *QUIET]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("anomseer-detect: error: "), err
    assert not out.exists()
