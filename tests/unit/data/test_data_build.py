"""The builder CLI: outputs, determinism across workers, atomic writes, argument errors."""

from __future__ import annotations

import hashlib
import json
import os

import pyarrow.parquet as pq
import pytest

from verl_anomseer.data import build
from verl_anomseer.data.build import main
from verl_anomseer.data.dataset import validate_parquet
from verl_anomseer.expcot import clean_trace

SMALL = ["--categories", "range", "freq", "--train-per-category", "3", "--test-per-category", "2", "--no-progress"]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "data"
    assert main([*SMALL, "--workers", "1", "--out", str(out)]) == 0
    return out


def test_outputs_manifest_and_rows(built, capsys):
    assert sorted(p.name for p in built.iterdir()) == ["manifest.json", "test.parquet", "train.parquet"]
    manifest = json.loads((built / "manifest.json").read_text())
    for name in ("train.parquet", "test.parquet"):
        assert manifest["sha256"][name] == _sha(built / name)
    assert validate_parquet(str(built / "train.parquet")) == 6 and validate_parquet(str(built / "test.parquet")) == 4
    train = pq.read_table(built / "train.parquet").to_pylist()
    assert [r["extra_info"]["series_id"] for r in train] == [
        f"anomllm/{c}/train/{i:05d}" for c in ("range", "freq") for i in range(3)
    ]
    counts = manifest["counts"]["train"]
    assert counts["rows"] == 6 and counts["per_category"] == {"range": 3, "freq": 3}
    assert sum(counts["per_class"].values()) == 6
    normal = sum(r["reward_model"]["ground_truth"]["label"] == "normal" for r in train)
    assert counts["anomaly_free_share"] == pytest.approx(normal / 6)
    assert manifest["args"]["seed"] == 3407 and manifest["args"]["expcot_mode"] == "faithful"
    assert {"numpy", "matplotlib", "pyarrow", "stumpy", "verl_anomseer"} <= set(manifest["versions"])


def test_byte_identical_rows_across_worker_counts(built, tmp_path):
    out = tmp_path / "two"
    assert main([*SMALL, "--workers", "2", "--out", str(out)]) == 0
    for name in ("train.parquet", "test.parquet"):
        assert _sha(out / name) == _sha(built / name)


def test_build_split_gives_the_rows_the_cli_writes(built):
    rows = build.build_split("anomllm", ["range", "freq"], "test", 2)
    assert rows == pq.read_table(built / "test.parquet").to_pylist()


def test_sample_i_does_not_depend_on_the_number_of_samples(built, tmp_path):
    out = tmp_path / "more"
    assert (
        main(
            [
                "--categories",
                "range",
                "--train-per-category",
                "5",
                "--test-per-category",
                "1",
                "--workers",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    more = pq.read_table(out / "train.parquet").to_pylist()[:3]
    fewer = pq.read_table(built / "train.parquet").to_pylist()[:3]
    assert more == fewer


def test_clean_mode_traces_come_from_the_values_alone(tmp_path):
    out = tmp_path / "clean"
    assert main([*SMALL, "--expcot-mode", "clean", "--workers", "1", "--out", str(out)]) == 0
    rows = pq.read_table(out / "train.parquet").to_pylist()
    for row in rows:
        assert row["extra_info"]["expcot_mode"] == "clean"
        assert row["extra_info"]["expcot"] == clean_trace(row["series"])  # a function of the series, no GT input
        assert "ground truth" not in row["extra_info"]["expcot"].lower()
        for start, end in row["reward_model"]["ground_truth"]["intervals"]:
            assert f"[{start}, {end}]" not in row["extra_info"]["expcot"]


def test_existing_output_needs_overwrite(built, tmp_path, capsys):
    out = tmp_path / "again"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    assert main([*SMALL, "--workers", "1", "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    # --overwrite replaces only a previous build (a manifest), never an arbitrary directory
    assert main([*SMALL, "--workers", "1", "--out", str(out), "--overwrite"]) == 2
    assert "not a dataset from this builder" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "old"
    (out / "manifest.json").write_text("{}")
    assert main([*SMALL, "--workers", "1", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.parquet", "train.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no staging or trash left behind


@pytest.mark.parametrize("overwrite", [False, True])
def test_interrupted_build_leaves_nothing_half_written(tmp_path, monkeypatch, overwrite):
    out = tmp_path / "out"
    if overwrite:
        out.mkdir()
        (out / "manifest.json").write_text("old")
    real = build.make_sample_row
    calls = []

    def interrupted(sample):
        calls.append(sample)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(sample)

    monkeypatch.setattr(build, "make_sample_row", interrupted)
    args = [*SMALL, "--workers", "1", "--out", str(out)] + (["--overwrite"] if overwrite else [])
    with pytest.raises(KeyboardInterrupt):
        main(args)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if overwrite else [])
    if overwrite:
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]
        assert (out / "manifest.json").read_text() == "old"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--suite", "nope"], "invalid choice"),
        (["--categories", "range", "shapelet"], "unknown category shapelet"),
        (["--suite", "vta", "--categories", "range"], "unknown category range"),
        (["--categories", "range,range"], "twice"),
        (["--train-per-category", "0"], "--train-per-category must be a positive integer"),
        (["--test-per-category", "-2"], "--test-per-category must be a positive integer"),
        (["--workers", "0"], "--workers must be a positive integer"),
        (["--length", "10"], "too short for the ExpCoT probes"),
        (["--seed", "-1"], "--seed must be non-negative"),
        (["--expcot-mode", "gt"], "invalid choice"),
        (["--train-per-category", "many"], "invalid int value"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("build_expcot: error: ") and message in err
    assert not out.exists()


def test_missing_out_and_bad_out_paths(tmp_path, capsys):
    assert main(["--no-progress"]) == 2
    assert "--out" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["--out", str(a_file), "--overwrite"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["--out", str(a_file / "sub" / "out")]) == 2
    assert "cannot create the parent" in capsys.readouterr().err
    assert a_file.read_text() == "x"


def test_overwrite_never_replaces_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    for out in (".", str(tmp_path.parent)):
        assert main(["--out", out, "--overwrite"]) == 2
        assert "contains the working directory" in capsys.readouterr().err
    assert (tmp_path / "manifest.json").is_file()


def test_help_returns_zero(capsys):
    assert main(["--help"]) == 0
    assert "--expcot-mode" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_unwritable_output_directory(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["--out", str(locked / "out")]) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)
