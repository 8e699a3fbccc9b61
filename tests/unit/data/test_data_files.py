"""Importing files (``build_expcot.py --suite files``): label round trip, formats, multivariate panels, bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from verl_anomseer.data.build import main
from verl_anomseer.data.dataset import validate_parquet
from verl_anomseer.expcot import clean_trace
from verl_anomseer.series.intervals import intervals_to_mask, mask_to_intervals
from verl_anomseer.series.windows import PLOT_PEAK

QUIET = ["--no-progress", "--workers", "1"]


def _series(rows: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sines with noise, and a label mask with a few runs (one of them on the last rows)."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = np.sin(2 * np.pi * t / (40 + 13 * np.arange(channels))) + rng.normal(0, 0.05, (rows, channels))
    mask = np.zeros(rows, dtype=bool)
    for start in rng.choice(rows - 30, size=4, replace=False):
        mask[start : start + int(rng.integers(1, 30))] = True
    mask[-3:] = True
    values[mask, 0] += 2.0
    return values, mask


def _csv(path, values, mask):
    frame = pd.DataFrame(values, columns=[f"c{k}" for k in range(values.shape[1])])
    frame.insert(0, "timestamp", np.arange(len(values)))
    frame["Label"] = mask.astype(int)
    frame.to_csv(path, index=False)
    return path


def _rows(out, split="test"):
    return pq.read_table(out / f"{split}.parquet").to_pylist()


def _back_to_file(rows, n):
    """Each row's intervals shifted by its recorded offset, the union over rows, and the rows covered."""
    labels, covered = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for row in rows:
        offset, length = row["extra_info"]["source"]["offset"], row["reward_model"]["ground_truth"]["length"]
        covered[offset : offset + length] = True
        for s, e in row["reward_model"]["ground_truth"]["intervals"]:
            labels[offset + s : offset + e] = True
    return labels, covered


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("rows", "window", "stride"), [(3000, 1000, 1000), (2345, 1000, 1000), (1111, 200, 150)])
def test_labels_round_trip_through_window_offsets(tmp_path, channels, rows, window, stride):
    values, mask = _series(rows, channels, seed=rows + channels)
    path = _csv(tmp_path / "in.csv", values, mask)
    out = tmp_path / "out"
    code = main(
        [
            "--suite",
            "files",
            "--input",
            str(path),
            "--window",
            str(window),
            "--stride",
            str(stride),
            "--anomaly-class",
            "global point",
            "--out",
            str(out),
            *QUIET,
        ]
    )
    assert code == 0
    built = _rows(out)
    assert validate_parquet(str(out / "test.parquet")) == len(built)
    labels, covered = _back_to_file(built, rows)
    assert covered.all() and np.array_equal(labels, mask)
    for row in built:  # exact per window too, not only as a union
        offset, gt = row["extra_info"]["source"]["offset"], row["reward_model"]["ground_truth"]
        assert gt["length"] == window
        assert [tuple(i) for i in gt["intervals"]] == mask_to_intervals(mask[offset : offset + window])
        assert gt["label"] == ("global point" if gt["intervals"] else "normal")
    assert built[-1]["extra_info"]["source"]["offset"] == rows - window  # the last window ends on the last row


def test_plot_scale_is_recorded_and_invertible(tmp_path):
    values, mask = _series(1500, 2, seed=3)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--suite",
                "files",
                "--input",
                str(_csv(tmp_path / "a.csv", values, mask)),
                "--anomaly-class",
                "trend",
                "--out",
                str(out),
                *QUIET,
            ]
        )
        == 0
    )
    for row in _rows(out):
        source = row["extra_info"]["source"]
        assert source["file"] == "a.csv" and source["columns"] == ["c0", "c1"] and source["channels"] == 2
        plotted = np.asarray(row["series"]).reshape(2, -1)
        assert np.abs(plotted).max() <= PLOT_PEAK + 1e-12
        center, half = np.asarray(source["center"])[:, None], np.asarray(source["half"])[:, None]
        offset = source["offset"]
        np.testing.assert_allclose(center + half * plotted / PLOT_PEAK, values[offset : offset + 1000].T, atol=1e-9)


def test_multivariate_rows_are_stacked_panels_with_the_channel_count(tmp_path):
    values, mask = _series(1000, 3, seed=5)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--suite",
                "files",
                "--input",
                str(_csv(tmp_path / "m.csv", values, mask)),
                "--anomaly-class",
                "shapelet",
                "--out",
                str(out),
                *QUIET,
            ]
        )
        == 0
    )
    (row,) = _rows(out)
    image = Image.open(io.BytesIO(row["images"][0]["bytes"]))
    assert image.size == (1000, 450)  # three 150-pixel panels
    assert "3 channels" in row["prompt"][0]["content"] and "3 stacked panels" in row["prompt"][0]["content"]
    traces = row["extra_info"]["expcot"]
    plotted = np.asarray(row["series"]).reshape(3, -1)
    assert traces.startswith("[Channel 1: c0]\n" + clean_trace(plotted[0]))
    assert "[Channel 3: c2]" in traces and "ground truth" not in traces.lower()


def test_formats_give_the_same_rows(tmp_path):
    values, _ = _series(1200, 1, seed=7)
    np.save(tmp_path / "s.npy", values[:, 0])
    pd.DataFrame({"v": values[:, 0]}).to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    pd.DataFrame({"v": values[:, 0]}).to_parquet(tmp_path / "s.parquet")
    np.savetxt(tmp_path / "s.txt", values[:, 0])
    series = {}
    for name in ("s.npy", "s.tsv", "s.parquet", "s.txt"):
        out = tmp_path / name.replace(".", "_")
        assert main(["--suite", "files", "--input", str(tmp_path / name), "--out", str(out), *QUIET]) == 0
        built = _rows(out)
        assert all(r["reward_model"]["ground_truth"]["label"] is None for r in built)  # unlabelled
        series[name] = [r["series"] for r in built]
    first = series["s.npy"]
    assert all(np.allclose(v, first) for v in series.values())


def test_ucr_archive_name_gives_the_label(tmp_path):
    values, _ = _series(3000, 1, seed=9)
    path = tmp_path / "042_UCR_Anomaly_Sensor7_1000_2100_2130.txt"
    np.savetxt(path, values[:, 0])
    out = tmp_path / "out"
    assert (
        main(
            ["--suite", "files", "--input", str(path), "--anomaly-class", "contextual point", "--out", str(out), *QUIET]
        )
        == 0
    )
    labels, _ = _back_to_file(_rows(out), 3000)
    assert mask_to_intervals(labels) == [(2100, 2130)]


def test_per_channel_intervals_give_one_univariate_series_per_column(tmp_path):
    values, _ = _series(1000, 2, seed=11)
    path = tmp_path / "p.csv"
    pd.DataFrame(values, columns=["x", "y"]).to_csv(path, index=False)
    spans = tmp_path / "spans.json"
    spans.write_text(json.dumps({"p.csv": {"x": [[10, 20]], "y": [[500, 540], [900, 901]]}}))
    out = tmp_path / "out"
    assert (
        main(
            [
                "--suite",
                "files",
                "--input",
                str(path),
                "--intervals",
                str(spans),
                "--anomaly-class",
                "seasonal",
                "--split",
                "train",
                "--out",
                str(out),
                *QUIET,
            ]
        )
        == 0
    )
    built = {r["extra_info"]["source"]["columns"][0]: r for r in _rows(out, "train")}
    assert built["x"]["reward_model"]["ground_truth"]["intervals"] == [[10, 20]]
    assert built["y"]["reward_model"]["ground_truth"]["intervals"] == [[500, 540], [900, 901]]
    assert all("univariate" in r["prompt"][0]["content"] for r in built.values())


def test_series_level_intervals_json_and_series_ids(tmp_path):
    values, _ = _series(2000, 1, seed=13)
    path = tmp_path / "q.csv"
    pd.DataFrame({"v": values[:, 0]}).to_csv(path, index=False)
    spans = tmp_path / "spans.json"
    spans.write_text(json.dumps({"q.csv": [[990, 1010]]}))
    out = tmp_path / "out"
    assert (
        main(
            [
                "--suite",
                "files",
                "--input",
                str(path),
                "--intervals",
                str(spans),
                "--anomaly-class",
                "trend",
                "--out",
                str(out),
                *QUIET,
            ]
        )
        == 0
    )
    built = _rows(out)
    assert [r["extra_info"]["series_id"] for r in built] == ["files/q.csv/v/000000000", "files/q.csv/v/000001000"]
    assert [r["reward_model"]["ground_truth"]["intervals"] for r in built] == [[[990, 1000]], [[0, 10]]]
    labels, _ = _back_to_file(built, 2000)
    assert np.array_equal(labels, intervals_to_mask([(990, 1010)], 2000))


def test_workers_give_byte_identical_parquet(tmp_path):
    values, mask = _series(2600, 2, seed=17)
    path = _csv(tmp_path / "w.csv", values, mask)
    args = ["--suite", "files", "--input", str(path), "--window", "500", "--anomaly-class", "trend", "--no-progress"]
    assert main([*args, "--workers", "1", "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--workers", "2", "--out", str(tmp_path / "two")]) == 0
    assert (tmp_path / "one" / "test.parquet").read_bytes() == (tmp_path / "two" / "test.parquet").read_bytes()


def test_fill_reports_the_count_and_constant_series_are_accepted(tmp_path, capsys):
    values, _ = _series(1000, 1, seed=19)
    values[[5, 6, 700], 0] = [np.nan, np.inf, np.nan]
    frame = pd.DataFrame({"v": values[:, 0], "flat": np.full(1000, 4.2)})
    frame.to_csv(tmp_path / "f.csv", index=False)
    out = tmp_path / "out"
    assert (
        main(["--suite", "files", "--input", str(tmp_path / "f.csv"), "--fill", "linear", "--out", str(out), *QUIET])
        == 0
    )
    err = capsys.readouterr().err
    assert "filled 3 NaN or infinite value(s)" in err and "'flat' is constant" in err
    (row,) = _rows(out)
    plotted = np.asarray(row["series"]).reshape(2, -1)
    assert np.isfinite(plotted).all() and not plotted[1].any()  # the constant channel plots at 0
    assert plotted[0, 5] == pytest.approx(plotted[0, 4] + (plotted[0, 7] - plotted[0, 4]) / 3)  # linear fill


def _bad(tmp_path, name, content, extra=()):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    else:
        path.write_text(content)
    return [str(path), *extra]


def _ok_frame(rows=1200, **columns):
    values, _ = _series(rows, 1, seed=23)
    return pd.DataFrame({"v": values[:, 0], **columns})


BAD_INPUTS = {
    "unreadable": lambda p: _bad(p, "x.parquet", b"not a parquet file"),
    "empty": lambda p: _bad(p, "x.csv", "v,Label\n"),
    "missing value column": lambda p: _bad(p, "x.csv", _ok_frame(), ["--value-columns", "nope"]),
    "non-numeric value column": lambda p: _bad(p, "x.csv", _ok_frame(name=["a"] * 1200), ["--value-columns", "name"]),
    "label not 0/1": lambda p: _bad(p, "x.csv", _ok_frame(Label=[0, 2] * 600), ["--anomaly-class", "trend"]),
    "intervals outside": lambda p: [
        *_bad(p, "x.csv", _ok_frame()),
        "--intervals",
        _bad(p, "i.json", json.dumps({"x.csv": [[1190, 1300]]}))[0],
    ],
    "window longer than series": lambda p: _bad(p, "x.csv", _ok_frame(rows=800)),
    "NaN without --fill": lambda p: _bad(p, "x.csv", _ok_frame(w=[np.nan] + [1.0] * 1199)),
    "infinite without --fill": lambda p: _bad(p, "x.csv", "v\n" + "1.0\n" * 600 + "inf\n" + "2.0\n" * 600),
    "labelled without a class": lambda p: _bad(p, "x.csv", _ok_frame(Label=[0] * 1199 + [1])),
    "unlabelled as train": lambda p: [*_bad(p, "x.csv", _ok_frame()), "--split", "train"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    argv = BAD_INPUTS[case](inputs)
    before = sorted(p.name for p in inputs.iterdir())
    out = tmp_path / "new" / "out"
    assert main(["--suite", "files", "--input", *argv, "--out", str(out), *QUIET]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("build_expcot: error: "), err
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in inputs.iterdir()) == before


def test_allow_short_makes_one_shorter_window(tmp_path):
    out = tmp_path / "out"
    path = _bad(tmp_path, "s.csv", _ok_frame(rows=800))[0]
    assert main(["--suite", "files", "--input", path, "--allow-short", "--out", str(out), *QUIET]) == 0
    (row,) = _rows(out)
    assert row["reward_model"]["ground_truth"]["length"] == 800 and "length 800" in row["prompt"][0]["content"]
