"""The paper's table from the per-sample records: per category, grouped into the paper's four columns, averaged;
on all series and on anomalous series only; mean ± std over seeds.

Per seed, a cell is the mean of a metric over the series of its group. Rows: each ``category``; each paper
column (``PAPER_COLUMNS``: the AnomLLM categories that feed Freq, Trend, Range, Point); and three averages:
``mean of categories`` (macro), ``mean of paper columns`` (the paper's "Avg"), ``all series`` (micro).
Across seeds a cell is reported as mean and sample std (std empty with one seed).
"""

from __future__ import annotations

import pandas as pd

from verl_anomseer.series.taxonomy import ANOMLLM_CATEGORIES, VTA_CATEGORIES

REPORT_METRICS: tuple[str, ...] = ("aff_p", "aff_r", "aff_f1", "pt_f1", "cls", "fmt", "score")
METRIC_TITLES = {
    "aff_p": "Aff P",
    "aff_r": "Aff R",
    "aff_f1": "Aff F1",
    "pt_f1": "Point F1",
    "cls": "Cls Acc",
    "fmt": "Format",
    "score": "Reward",
}
PAPER_COLUMNS: dict[str, tuple[str, ...]] = {
    "Freq": ("freq", "noisy-freq"),
    "Trend": ("trend", "flat-trend", "noisy-trend"),
    "Range": ("range",),
    "Point": ("point", "noisy-point"),
}
CATEGORY_TO_PAPER_COLUMN = {c: col for col, cats in PAPER_COLUMNS.items() for c in cats}
SUBSETS = {"all": "all series", "anomalous": "anomalous series only"}
MACRO_CATEGORIES, MACRO_PAPER, MICRO = "mean of categories", "mean of paper columns", "all series"


def category_order(names) -> list[str]:
    """``names`` in taxonomy order (AnomLLM, then VisualTimeAnomaly categories), unknown ones last by name."""
    known = list(dict.fromkeys((*ANOMLLM_CATEGORIES, *VTA_CATEGORIES)))
    return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))


def per_seed_table(records: list[dict]) -> pd.DataFrame:
    """One row per (seed, subset, kind, name): ``n_series`` and the mean of each metric."""
    df = pd.DataFrame.from_records(records)
    df["paper_column"] = df["category"].map(CATEGORY_TO_PAPER_COLUMN)
    metrics = list(REPORT_METRICS)
    parts = []
    for subset in SUBSETS:
        sub = df if subset == "all" else df[df["anomalous"]]
        if sub.empty:
            continue
        groups = {
            "category": sub.groupby(["seed", "category"]),
            "paper": sub.dropna(subset=["paper_column"]).groupby(["seed", "paper_column"]),
        }
        means = {}
        for kind, grouped in groups.items():
            table = grouped[metrics].mean().join(grouped.size().rename("n_series")).reset_index(level=1)
            means[kind] = table.rename(columns={table.columns[0]: "name"})
            parts.append(means[kind].assign(subset=subset, kind=kind))
        for name, table in ((MACRO_CATEGORIES, means["category"]), (MACRO_PAPER, means["paper"])):
            if not table.empty:
                macro = table.groupby(level="seed").agg({**{m: "mean" for m in metrics}, "n_series": "sum"})
                parts.append(macro.assign(name=name, subset=subset, kind="average"))
        micro = sub.groupby("seed")[metrics].mean().join(sub.groupby("seed").size().rename("n_series"))
        parts.append(micro.assign(name=MICRO, subset=subset, kind="average"))
    return pd.concat(parts).reset_index()[["seed", "subset", "kind", "name", "n_series", *metrics]]


def summary_table(records: list[dict]) -> pd.DataFrame:
    """Long format: subset, kind, name, metric, mean, std (over seeds; NaN with one seed), n_series, n_seeds."""
    per_seed = per_seed_table(records)
    long = per_seed.melt(
        id_vars=["seed", "subset", "kind", "name", "n_series"], value_vars=list(REPORT_METRICS), var_name="metric"
    )
    grouped = long.groupby(["subset", "kind", "name", "metric"], sort=False)
    out = (
        grouped["value"]
        .agg(mean="mean", std="std")
        .join(grouped["n_series"].max())
        .join(grouped["seed"].nunique().rename("n_seeds"))
    )
    return out.reset_index()


def _cell(row: dict) -> str:
    text = f"{100 * row['mean']:.1f}"
    return text if pd.isna(row["std"]) else f"{text} ± {100 * row['std']:.1f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def render_markdown(summary: pd.DataFrame, title: str, notes: list[str]) -> str:
    """``report.md``: the paper's grouped table, then per-category tables for each subset (values in %)."""
    cells = {(r.subset, r.kind, r.name, r.metric): _cell(r._asdict()) for r in summary.itertuples()}
    counts = {(r.subset, r.kind, r.name): int(r.n_series) for r in summary.itertuples()}
    out = [f"# {title}", "", *[f"- {n}" for n in notes], ""]
    columns = [c for c in PAPER_COLUMNS if ("all", "paper", c, "aff_f1") in cells]
    if columns:
        feeds = "; ".join(f"{c} = {', '.join(PAPER_COLUMNS[c])}" for c in columns)
        out += [
            "## The paper's table (Affinity F1 and class accuracy, %)",
            "",
            f"Paper columns pool these categories: {feeds}. Avg F1 is the mean of the columns.",
            "",
        ]
        rows = [
            [
                SUBSETS[s],
                cells.get((s, "average", MICRO, "cls"), "-"),
                *[cells.get((s, "paper", c, "aff_f1"), "-") for c in columns],
                cells.get((s, "average", MACRO_PAPER, "aff_f1"), "-"),
            ]
            for s in SUBSETS
        ]
        out += [_md_table(["Series", "Cls Acc", *[f"{c} F1" for c in columns], "Avg F1"], rows), ""]
    for subset, subset_title in SUBSETS.items():
        names = [
            ("category", n)
            for n in category_order(summary.loc[(summary.subset == subset) & (summary.kind == "category"), "name"])
        ]
        names += [("average", MACRO_CATEGORIES), ("average", MICRO)]
        rows = [
            [
                name,
                str(counts.get((subset, kind, name), 0)),
                *[cells.get((subset, kind, name, m), "-") for m in REPORT_METRICS],
            ]
            for kind, name in names
            if (subset, kind, name) in counts
        ]
        if rows:
            out += [
                f"## Per category, {subset_title} (%)",
                "",
                _md_table(["Category", "Series", *[METRIC_TITLES[m] for m in REPORT_METRICS]], rows),
                "",
            ]
    return "\n".join(out)


def failure_table(records: list[dict]) -> str:
    """Markdown counts of the parser's reasons for every answer it did not read cleanly (reason != "ok")."""
    reasons = pd.Series([r["reason"] for r in records if r["reason"] != "ok"], dtype=object)
    if reasons.empty:
        return "## Unreadable answers\n\nNone: the parser read every answer cleanly.\n"
    rows = [[str(reason), str(int(n))] for reason, n in reasons.value_counts().items()]
    return (
        "## Answers the parser flagged (scored exactly as the reward scores them)\n\n"
        + _md_table(["Reason", "Answers"], rows)
        + "\n"
    )
