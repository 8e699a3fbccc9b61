"""Hand-made records and samples for the evaluation harness's unit tests."""

from __future__ import annotations

import numpy as np
import pytest

METRICS = ("score", "fmt", "cls", "loc", "pt_p", "pt_r", "pt_f1", "aff_p", "aff_r", "aff_f1")

CATEGORIES = ("range", "point", "freq", "noisy-freq", "trend", "flat-trend")


def make_records(seeds=(0, 1), per_category=5, rng_seed=0) -> list[dict]:
    """Records shaped like ``score_record``'s, with random metrics and a fixed set of series per seed."""
    rng = np.random.default_rng(rng_seed)
    records = []
    for seed in seeds:
        for category in CATEGORIES:
            for i in range(per_category):
                anomalous = i % 3 != 0
                records.append(
                    {
                        "series_id": f"{category}-{i}",
                        "seed": seed,
                        "suite": "anomllm",
                        "category": category,
                        "length": 100,
                        "gt_intervals": [[10, 20]] if anomalous else [],
                        "gt_label": "trend" if anomalous else "normal",
                        "anomalous": anomalous,
                        "text": "<think>x</think><answer>[]</answer><class>normal</class>",
                        "pred_intervals": [],
                        "pred_label": ["normal", "trend", ""][int(rng.integers(3))],
                        "format_ok": bool(rng.random() < 0.8),
                        "reason": "ok",
                        **{m: float(rng.random()) for m in METRICS},
                    }
                )
                if not records[-1]["format_ok"]:
                    records[-1]["reason"] = "no <answer> block"
    return records


@pytest.fixture
def records():
    return make_records()
