"""``--ray``: the builder's rows and the detector's answers as Ray tasks on a local cluster equal the in-process ones.

Each command starts its own local Ray cluster (``--ray local``) and shuts it down, as a user's would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verl_anomseer.data.build import main as build
from verl_anomseer.detect.cli import main as detect

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory):
    rng = np.random.default_rng(5)
    t = np.arange(2600)
    frame = pd.DataFrame({"a": np.sin(t / 9) + rng.normal(0, 0.05, t.size), "label": 0})
    frame.loc[900:905, "a"] += 3
    frame.loc[900:905, "label"] = 1
    path = tmp_path_factory.mktemp("ray_input") / "r.csv"
    frame.to_csv(path, index=False)
    return path


def test_ray_build_gives_byte_identical_parquet(tmp_path, series_csv):
    args = [
        "--suite",
        "files",
        "--input",
        str(series_csv),
        "--window",
        "500",
        "--anomaly-class",
        "global point",
        "--no-progress",
    ]
    assert build([*args, "--workers", "1", "--out", str(tmp_path / "one")]) == 0
    assert build([*args, "--ray", "local", "--out", str(tmp_path / "ray")]) == 0
    assert (tmp_path / "one" / "test.parquet").read_bytes() == (tmp_path / "ray" / "test.parquet").read_bytes()


def test_ray_detection_gives_the_same_answers(tmp_path, series_csv):
    args = [str(series_csv), "--detector", "discord", "--window", "500", "--no-progress"]
    assert detect([*args, "--workers", "1", "--out", str(tmp_path / "one")]) == 0
    assert detect([*args, "--ray", "local", "--out", str(tmp_path / "ray")]) == 0
    for name in ("windows.jsonl", "anomalies.csv", "report.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
