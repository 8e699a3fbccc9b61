"""The report's numbers, recomputed from the records by plain-Python loops (an independent path)."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict

import pytest

from verl_anomseer.eval.report import (
    MACRO_CATEGORIES,
    MACRO_PAPER,
    MICRO,
    PAPER_COLUMNS,
    REPORT_METRICS,
    render_markdown,
    summary_table,
)


def expected_cells(records):
    """{(subset, kind, name, metric): [value per seed]} computed without pandas."""
    column_of = {
        "range": "Range",
        "point": "Point",
        "noisy-point": "Point",
        "freq": "Freq",
        "noisy-freq": "Freq",
        "trend": "Trend",
        "flat-trend": "Trend",
        "noisy-trend": "Trend",
    }
    per_seed = defaultdict(dict)
    for subset in ("all", "anomalous"):
        for seed in sorted({r["seed"] for r in records}):
            rows = [r for r in records if r["seed"] == seed and (subset == "all" or r["anomalous"])]
            for metric in REPORT_METRICS:
                by_cat, by_col = defaultdict(list), defaultdict(list)
                for r in rows:
                    by_cat[r["category"]].append(r[metric])
                    by_col[column_of[r["category"]]].append(r[metric])
                cat_means = {c: sum(v) / len(v) for c, v in by_cat.items()}
                col_means = {c: sum(v) / len(v) for c, v in by_col.items()}
                cells = {("category", c): m for c, m in cat_means.items()}
                cells |= {("paper", c): m for c, m in col_means.items()}
                cells[("average", MACRO_CATEGORIES)] = sum(cat_means.values()) / len(cat_means)
                cells[("average", MACRO_PAPER)] = sum(col_means.values()) / len(col_means)
                cells[("average", MICRO)] = sum(r[metric] for r in rows) / len(rows)
                for (kind, name), value in cells.items():
                    per_seed[(subset, kind, name, metric)][seed] = value
    return per_seed


def test_summary_matches_independent_recomputation(records):
    table = summary_table(records)
    rows = list(csv.DictReader(io.StringIO(table.to_csv(index=False))))
    expected = expected_cells(records)
    assert {(r["subset"], r["kind"], r["name"], r["metric"]) for r in rows} == set(expected)
    for row in rows:
        values = list(expected[(row["subset"], row["kind"], row["name"], row["metric"])].values())
        assert float(row["mean"]) == pytest.approx(statistics.mean(values), abs=1e-12)
        assert float(row["std"]) == pytest.approx(statistics.stdev(values), abs=1e-12)
        assert int(row["n_seeds"]) == 2


def test_anomalous_subset_excludes_normal_series(records):
    table = summary_table(records).set_index(["subset", "kind", "name", "metric"])
    n_all = table.loc[("all", "average", MICRO, "aff_f1"), "n_series"]
    n_anom = table.loc[("anomalous", "average", MICRO, "aff_f1"), "n_series"]
    assert (n_all, n_anom) == (30, sum(1 for r in records if r["anomalous"] and r["seed"] == 0))


def test_single_seed_has_no_std_and_markdown_shows_paper_columns(records):
    one_seed = [r for r in records if r["seed"] == 0]
    table = summary_table(one_seed)
    assert table["std"].isna().all()
    md = render_markdown(table, "T", ["note"])
    micro_cls = table.set_index(["subset", "kind", "name", "metric"]).loc[("all", "average", MICRO, "cls"), "mean"]
    header = next(line for line in md.splitlines() if line.startswith("| Series"))
    # only the paper columns with data appear (the fixture has no noisy-point/noisy-trend, but all four groups)
    assert header == "| Series | Cls Acc | " + " | ".join(f"{c} F1" for c in PAPER_COLUMNS) + " | Avg F1 |"
    first_row = next(line for line in md.splitlines() if line.startswith("| all series"))
    assert first_row.split(" | ")[1] == f"{100 * micro_cls:.1f}"
    assert "± " not in md


def test_markdown_reports_mean_and_std_over_seeds(records):
    md = render_markdown(summary_table(records), "T", [])
    assert "## Per category, anomalous series only (%)" in md
    assert " ± " in md
