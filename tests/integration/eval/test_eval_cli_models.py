"""``anomseer-eval`` with model backends: openai against a fake local server, hf with the tiny local model."""

from __future__ import annotations

import socket

import pandas as pd
import pyarrow.parquet as pq
import pytest

from verl_anomseer.eval import cli
from verl_anomseer.eval.answer_text import canonical_answer
from verl_anomseer.scoring.reward import compute_score

pytestmark = pytest.mark.integration


def test_openai_backend_scores_good_and_unreadable_answers(eval_parquet, fake_openai, tmp_path):
    rows = pq.read_table(eval_parquet).to_pylist()
    good_images = set()
    for i, row in enumerate(rows):  # identical plots (e.g. anomaly-free sines) share one answer
        gt, image = row["reward_model"]["ground_truth"], row["images"][0]["bytes"]
        good = canonical_answer([tuple(x) for x in gt["intervals"]], gt["label"], "looked at the plot")
        if image not in fake_openai.answers:
            fake_openai.answers[image] = good if i % 2 == 0 else "I cannot tell."
            good_images |= {image} if i % 2 == 0 else set()
    fake_openai.failures = [503]
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "--data",
                str(eval_parquet),
                "--backend",
                "openai",
                "--model",
                "fake-vl",
                "--out",
                str(out),
                "--concurrency",
                "3",
                "--rate-limit",
                "200",
            ]
        )
        == 0
    )
    preds = pd.read_json(out / "predictions.jsonl", lines=True, dtype=False).set_index("series_id")
    assert len(preds) == len(rows) == 12
    for row in rows:
        rec = preds.loc[row["extra_info"]["series_id"]]
        if row["images"][0]["bytes"] in good_images:  # the exact ground truth: perfect on every metric
            assert (rec.score, rec.aff_f1, rec.cls, rec.reason) == (1.0, 1.0, 1.0, "ok")
        else:  # unreadable: kept, with its reason, scored 0 like the reward
            assert rec.text == "I cannot tell." and rec.reason != "ok" and rec["fmt"] == rec["loc"] == 0.0
    assert "Answers the parser flagged" in (out / "report.md").read_text()


def test_endpoint_failing_mid_run_keeps_what_was_written_and_resumes(eval_parquet, fake_openai, tmp_path, capsys):
    rows = pq.read_table(eval_parquet).to_pylist()
    fake_openai.answers = {r["images"][0]["bytes"]: "<answer>[]</answer>" for r in rows}
    fake_openai.broken_images = {rows[-1]["images"][0]["bytes"]}
    out = tmp_path / "out"
    argv = [
        "--data",
        str(eval_parquet),
        "--backend",
        "openai",
        "--model",
        "fake-vl",
        "--out",
        str(out),
        "--concurrency",
        "1",
        "--max-retries",
        "1",
    ]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "HTTP 500 after 2 attempts" in err and "rerun the same command to resume" in err
    written = (out / "predictions.jsonl").read_bytes()
    assert written.count(b"\n") == len(rows) - 1
    fake_openai.broken_images = set()
    requests_before = len(fake_openai.requests)
    assert cli.main(argv) == 0
    assert len(fake_openai.requests) == requests_before + 1  # only the missing series is asked again
    assert (out / "predictions.jsonl").read_bytes().startswith(written)


def test_unreachable_endpoint_fails_before_any_work(eval_parquet, tmp_path, monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    out = tmp_path / "out"
    assert (
        cli.main(
            ["--data", str(eval_parquet), "--backend", "openai", "--model", "m", "--out", str(out), "--timeout", "5"]
        )
        == 2
    )
    assert "cannot reach the endpoint" in capsys.readouterr().err and not out.exists()


def test_hf_backend_end_to_end_with_the_tiny_model(eval_parquet, tiny_vl_model, tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "--data",
                str(eval_parquet),
                "--backend",
                "hf",
                "--model",
                str(tiny_vl_model),
                "--out",
                str(out),
                "--limit",
                "3",
                "--batch-size",
                "2",
                "--max-new-tokens",
                "8",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    preds = pd.read_json(out / "predictions.jsonl", lines=True, dtype=False)
    assert len(preds) == 3
    for rec in preds.itertuples():  # whatever the random model wrote is scored exactly as the reward scores it
        gt = {"intervals": rec.gt_intervals, "label": rec.gt_label, "length": rec.length}
        assert rec.score == compute_score(f"anomseer/anomllm/{rec.category}", rec.text, gt)["score"]
        assert isinstance(rec.reason, str) and rec.reason
    assert (out / "report.csv").exists() and (out / "gallery.png").exists()


def test_model_that_does_not_load_fails_before_any_work(eval_parquet, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "--data",
                str(eval_parquet),
                "--backend",
                "hf",
                "--model",
                str(tmp_path / "nope"),
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not load" in err and not out.exists()


def test_vllm_backend_without_vllm_is_a_clear_error(eval_parquet, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        cli.main(
            ["--data", str(eval_parquet), "--backend", "vllm", "--model", str(tmp_path / "nope"), "--out", str(out)]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("vllm is not installed" in err or "vLLM could not load" in err)
    assert not out.exists()
