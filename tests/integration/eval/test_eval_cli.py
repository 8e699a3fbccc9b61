"""``anomseer-eval`` end to end on a small split built by the data builder: detectors, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verl_anomseer.eval import cli
from verl_anomseer.eval.backends.detector import DetectorBackend
from verl_anomseer.scoring.answer import parse_answer
from verl_anomseer.scoring.reward import compute_score

pytestmark = pytest.mark.integration
PNG = b"\x89PNG\r\n\x1a\n"
PAPER = {
    "Freq": ["freq", "noisy-freq"],
    "Trend": ["trend", "flat-trend", "noisy-trend"],
    "Range": ["range"],
    "Point": ["point", "noisy-point"],
}


def read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)


def csv_cell(report: pd.DataFrame, subset, kind, name, metric) -> float:
    row = report[(report.subset == subset) & (report.kind == kind) & (report.name == name) & (report.metric == metric)]
    assert len(row) == 1, (subset, kind, name, metric)
    return float(row["mean"].iloc[0])


def assert_report_matches_jsonl(out: Path) -> None:
    """Recompute the CSV's numbers from predictions.jsonl with a pandas groupby of the test's own."""
    preds = read_jsonl(out / "predictions.jsonl")
    report = pd.read_csv(out / "report.csv")
    for subset, rows in (("all", preds), ("anomalous", preds[preds["anomalous"]])):
        per_seed = rows.groupby(["seed", "category"])[["aff_f1", "aff_p", "aff_r", "pt_f1", "cls"]].mean()
        for category, values in per_seed.groupby(level="category"):
            for metric in values.columns:
                assert csv_cell(report, subset, "category", category, metric) == pytest.approx(values[metric].mean())
        column = rows["category"].map({c: col for col, cats in PAPER.items() for c in cats})
        paper = rows.assign(column=column).groupby(["seed", "column"])["aff_f1"].mean()
        for name, values in paper.groupby(level="column"):
            assert csv_cell(report, subset, "paper", name, "aff_f1") == pytest.approx(values.mean())
        avg = paper.groupby(level="seed").mean().mean()
        assert csv_cell(report, subset, "average", "mean of paper columns", "aff_f1") == pytest.approx(avg)
        assert csv_cell(report, subset, "average", "all series", "cls") == pytest.approx(rows["cls"].mean())


@pytest.mark.parametrize("detector", ["probes", "discord", "iforest", "ksigma"])
def test_every_detector_produces_the_report(eval_parquet, tmp_path, detector):
    out = tmp_path / detector
    assert (
        cli.main(["--data", str(eval_parquet), "--backend", "detector", "--detector", detector, "--out", str(out)]) == 0
    )
    preds = read_jsonl(out / "predictions.jsonl")
    assert len(preds) == 12 and preds["series_id"].is_unique
    for row in preds.itertuples():  # each record is the training reward of its own text
        gt = {"intervals": row.gt_intervals, "label": row.gt_label, "length": row.length}
        scores = compute_score(f"anomseer/anomllm/{row.category}", row.text, gt)
        assert row.score == pytest.approx(scores["score"]) and row.aff_f1 == pytest.approx(scores["aff_f1"])
        assert row.pred_intervals == [list(i) for i in parse_answer(row.text, row.length).intervals]
    assert_report_matches_jsonl(out)
    md = (out / "report.md").read_text()
    assert "## The paper's table" in md and "Freq = freq" in md and "anomalous series only" in md
    for png in ("per_category.png", "confusion.png", "gallery.png"):
        assert (out / png).read_bytes().startswith(PNG)
    assert json.loads((out / "run.json").read_text())["detector"] == detector


@pytest.mark.slow  # two spawned worker processes import the stack
def test_detector_workers_give_the_same_predictions(eval_parquet, tmp_path):
    texts = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert (
            cli.main(
                [
                    "--data",
                    str(eval_parquet),
                    "--backend",
                    "detector",
                    "--detector",
                    "probes",
                    "--workers",
                    str(workers),
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        texts[workers] = read_jsonl(out / "predictions.jsonl")[["series_id", "text"]].values.tolist()
    assert texts[1] == texts[2]


def test_interrupted_run_resumes_to_the_same_report(eval_parquet, tmp_path, monkeypatch):
    argv = ["--data", str(eval_parquet), "--backend", "detector", "--detector", "ksigma", "--seeds", "0", "1"]
    full = tmp_path / "full"
    assert cli.main([*argv, "--out", str(full)]) == 0

    real_generate = DetectorBackend.generate

    def crashing(self, samples, seed):  # dies after 5 series of the first seed
        for n, item in enumerate(real_generate(self, samples, seed)):
            if n == 5:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(DetectorBackend, "generate", crashing)
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        cli.main([*argv, "--out", str(resumed)])
    written = (resumed / "predictions.jsonl").read_bytes()
    assert written.count(b"\n") == 5 and not (resumed / "report.md").exists()
    (resumed / "predictions.jsonl").write_bytes(written + b'{"series_id": "anomllm/ra')  # a torn last line
    monkeypatch.setattr(DetectorBackend, "generate", real_generate)
    assert cli.main([*argv, "--out", str(resumed)]) == 0
    lines = (resumed / "predictions.jsonl").read_bytes()
    assert lines.startswith(written) and lines.count(b"\n") == 24
    for name in ("report.csv", "report.md"):
        assert (resumed / name).read_text() == (full / name).read_text()
    assert cli.main([*argv, "--out", str(resumed)]) == 0  # nothing left to do: same file, same report
    assert (resumed / "predictions.jsonl").read_bytes() == lines


def test_parquet_without_required_columns_fails_before_work(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"data_source": ["x"], "prompt": ["y"]}), bad)
    out = tmp_path / "out"
    assert cli.main(["--data", str(bad), "--backend", "detector", "--detector", "ksigma", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'images'" in err and "'series'" in err
    assert not out.exists()


def test_resume_with_other_settings_is_refused(eval_parquet, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "--data",
                str(eval_parquet),
                "--backend",
                "detector",
                "--detector",
                "ksigma",
                "--out",
                str(out),
                "--limit",
                "2",
            ]
        )
        == 0
    )
    before = (out / "predictions.jsonl").read_bytes()
    assert (
        cli.main(["--data", str(eval_parquet), "--backend", "detector", "--detector", "discord", "--out", str(out)])
        == 2
    )
    assert "other settings" in capsys.readouterr().err
    other = tmp_path / "other.parquet"  # same rows, another file: e.g. a rebuilt split
    pq.write_table(pq.read_table(eval_parquet).slice(0, 6), other)
    assert cli.main(["--data", str(other), "--backend", "detector", "--detector", "ksigma", "--out", str(out)]) == 2
    assert "data_sha256" in capsys.readouterr().err
    assert (out / "predictions.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "detector"], "needs --detector"),
        (["--backend", "hf"], "needs --model"),
        (["--backend", "hf", "--model", "m", "--seeds", "0", "1"], "greedy decoding"),
        (["--backend", "openai", "--model", "m", "--top-p", "0"], "--top-p"),
        (["--backend", "detector", "--detector", "ksigma", "--limit", "0"], "must be > 0"),
        (["--backend", "tgi"], "invalid choice"),
        (["--backend", "detector", "--detector", "ksigma", "--parser", "loose"], "argument --parser: invalid choice"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(tmp_path, capsys, argv, message):
    assert cli.main(["--data", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_the_parser_is_chosen_recorded_and_part_of_the_run_settings(eval_parquet, tmp_path, monkeypatch, capsys):
    real_generate = DetectorBackend.generate

    def truncating(self, samples, seed):  # every non-empty answer loses its closing bracket
        for sample, text in real_generate(self, samples, seed):
            yield sample, text.replace("]]</answer>", "]</answer>")

    monkeypatch.setattr(DetectorBackend, "generate", truncating)
    argv = ["--data", str(eval_parquet), "--backend", "detector", "--detector", "probes"]
    preds = {}
    for parser in ("strict", "lenient"):
        out = tmp_path / parser
        assert cli.main([*argv, "--out", str(out), *(["--parser", "lenient"] if parser == "lenient" else [])]) == 0
        assert json.loads((out / "run.json").read_text())["parser"] == parser
        assert f"with the `{parser}` parser" in (out / "report.md").read_text()
        preds[parser] = read_jsonl(out / "predictions.jsonl").set_index("series_id")
    texts = preds["strict"]["text"]
    truncated = texts.str.contains("]</answer>", regex=False) & ~texts.str.contains("<answer>[]</answer>", regex=False)
    assert truncated.any() and (~truncated).any()
    assert (preds["strict"].loc[truncated, ["fmt", "loc"]] == 0).all().all()
    assert (preds["lenient"].loc[truncated, "fmt"] == 1).all()
    untouched = preds["strict"].index[~truncated]
    assert preds["strict"].loc[untouched, "score"].tolist() == preds["lenient"].loc[untouched, "score"].tolist()
    assert cli.main([*argv, "--out", str(tmp_path / "strict"), "--parser", "lenient"]) == 2
    assert "parser: 'strict' -> 'lenient'" in capsys.readouterr().err


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    assert (
        cli.main(
            [
                "--data",
                str(tmp_path / "none.parquet"),
                "--backend",
                "detector",
                "--detector",
                "ksigma",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err
