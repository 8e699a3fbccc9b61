"""The ExpCoT writer: Observation / Reasoning & Validation / Conclusion traces in two modes.

- ``faithful_trace(values, category, intervals, label)``: the authors' released behaviour. It states the
  ground-truth class and intervals (in Observation, Reasoning and Conclusion), denoises ``noisy-*``
  categories, and picks the detector by the global scan (max z > 5 -> k-sigma) and then by the category
  name (trend -> gradient, freq/seasonal -> FFT, otherwise matrix-profile discord).
- ``clean_trace(values)``: receives no ground truth. It states only what ``selection.analyze`` found, with the
  numbers behind it, and names exactly one class: the detector's conclusion.
"""

from __future__ import annotations

import json

from verl_anomseer.expcot import probes
from verl_anomseer.expcot.selection import GLOBAL_Z, ProbeReport, analyze
from verl_anomseer.series.taxonomy import CATEGORY_TO_CLASS, CLASSES, NORMAL

_HEAD_OBS = r"\textbf{Observation} — "
_HEAD_REASON = r"\textbf{Reasoning \& Validation} — "
_HEAD_CONCL = r"\textbf{Conclusion} — "


def _num(value: float) -> str:
    """A statistic for the text: whole numbers as integers, else 4 decimals in the usual range, 4 significant digits."""
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e6 else f"{value:.4g}"


def _spans(intervals) -> str:
    """Intervals as the answer format writes them: [[s, e], ...]."""
    return json.dumps([[int(s), int(e)] for s, e in intervals])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _layout(observation: str, reasoning: str, conclusion: str) -> str:
    return "\n".join((_HEAD_OBS + observation, _HEAD_REASON + reasoning, _HEAD_CONCL + conclusion))


# Evidence sentences: one per probe, quoting its statistics (keys as in ``ProbeReport.stats``).
def _ksigma_evidence(s: dict[str, float]) -> str:
    return (
        f"{int(s['ksigma.n_flagged'])} samples fall outside the {_num(s['ksigma.k'])}-sigma band "
        f"[{_num(s['ksigma.lower'])}, {_num(s['ksigma.upper'])}]"
    )


def _trend_evidence(s: dict[str, float]) -> str:
    return (
        f"the Savitzky-Golay smoothed gradient (window {int(s['trend.window'])}, polyorder 2) has mean "
        f"{_num(s['trend.grad_mean'])} and std {_num(s['trend.grad_std'])}; its largest deviation is "
        f"{_num(s['trend.max_grad_z'])} std, {int(s['trend.n_flagged'])} samples exceed {_num(s['trend.k'])} std "
        f"and the longest such run lasts {int(s['trend.longest_run'])} samples"
    )


def _slope_evidence(s: dict[str, float]) -> str:
    return (
        f"the mean slope over two moving averages of width {int(s['slope.window'])} (a whole number of the dominant "
        f"period, so the oscillation cancels) has median {_num(s['slope.slope_median'])} and robust std "
        f"{_num(s['slope.slope_spread'])}; its largest deviation is {_num(s['slope.max_slope_z'])} std, and the "
        f"longest sustained shift beyond {_num(s['slope.k'])} std that is not undone lasts "
        f"{int(s['slope.longest_run'])} samples and adds a level of {_num(s['slope.level_shift'])}"
    )


def _freq_evidence(s: dict[str, float]) -> str:
    return (
        f"the sliding-window FFT (window {int(s['freq.window'])}, stride 1) gives a dominant period of "
        f"{_num(s['freq.period_mean'])} on average with std {_num(s['freq.period_std'])} (from "
        f"{_num(s['freq.period_min'])} to {_num(s['freq.period_max'])}), and {int(s['freq.n_flagged_windows'])} "
        f"windows leave [{_num(s['freq.lower'])}, {_num(s['freq.upper'])}]"
    )


def _discord_evidence(s: dict[str, float]) -> str:
    return (
        f"the matrix profile (subsequence length {int(s['discord.m'])}) has its top discord at index "
        f"{int(s['discord.discord_index'])} with distance {_num(s['discord.discord_score'])}, a z-score of "
        f"{_num(s['discord.discord_z'])} against the profile mean {_num(s['discord.mp_mean'])} and std "
        f"{_num(s['discord.mp_std'])} (threshold 3.5)"
    )


def _shape_evidence(s: dict[str, float]) -> str:
    return (
        f"each subsequence of one dominant period ({int(s['shape.m'])} samples) is compared with its nearest match "
        "elsewhere (matrix profile of the standardised subsequences), and each sample keeps the smallest distance "
        f"among the subsequences through it; these scores have median {_num(s['shape.score_median'])} and robust std "
        f"{_num(s['shape.score_spread'])}, the highest lies {_num(s['shape.max_z'])} std above the median at index "
        f"{int(s['shape.argmax_z'])}, and {int(s['shape.n_flagged'])} samples exceed {_num(s['shape.k'])} std"
    )


def _spike_evidence(s: dict[str, float]) -> str:
    return (
        f"against the median of its {2 * int(s['spike.radius'])} neighbours each sample leaves a residual of robust "
        f"std {_num(s['spike.resid_std'])}; the largest is {_num(s['spike.max_z'])} std, and "
        f"{int(s['spike.n_flagged'])} samples exceed {_num(s['spike.k'])} std ({int(s['spike.n_outside'])} of them "
        "beyond the range of the rest)"
    )


_DECISIVE = {
    "ksigma": "so the extreme samples form",
    "trend": "the sustained slope shifts, mapped back to the samples they average, are",
    "freq": "the windows with an unusual period cover",
    "discord": "the discord subsequence is",
    "shape": "the stretches unlike every other part of the series are",
    "spike": "the isolated samples are",
}
_EVIDENCE = {"ksigma": _ksigma_evidence, "trend": _trend_evidence, "freq": _freq_evidence, "discord": _discord_evidence}
_CLEAN_EVIDENCE = {**_EVIDENCE, "trend": _slope_evidence, "shape": _shape_evidence, "spike": _spike_evidence}
_STRUCTURAL = ("trend", "freq", "discord", "shape", "spike")  # the clean mode's tests, in the analysis order


def _scan_sentence(s: dict[str, float], robust: bool) -> str:
    """The global scan; the clean mode decides on the robust z-score, the authors on the plain one."""
    plain = f"the largest z-score is {_num(s['ksigma.max_z'])} at index {int(s['ksigma.argmax_z'])}"
    text = f"Whole-series scan: mean {_num(s['ksigma.mean'])}, std {_num(s['ksigma.std'])}; "
    if not robust:
        return text + plain + f" (extreme-value threshold {_num(GLOBAL_Z)})."
    return text + (
        f"{plain}; against the median {_num(s['ksigma.median'])} and robust std {_num(s['ksigma.robust_std'])} "
        f"the largest deviation is {_num(s['ksigma.max_robust_z'])} (extreme-value threshold {_num(GLOBAL_Z)})."
    )


def _stats_for(result: probes.ProbeResult, name: str) -> dict[str, float]:
    return {f"{name}.{key}": value for key, value in result.stats.items()}


def clean_trace(values) -> str:
    """An ExpCoT computed from the series alone: the probes' numbers, the chosen detector, its intervals."""
    return render_clean(analyze(values), len(values))


def render_clean(report: ProbeReport, length: int) -> str:
    """The clean trace of an ``analyze`` report for a series of ``length`` samples (names one class only)."""
    s = report.stats
    observation = f"The series has {length} samples. "
    if report.denoised:
        observation += f"[Preprocess] The estimated noise level is {_num(s['noise.ratio'])} of the std (threshold "
        observation += f"{_num(s['noise.threshold'])}), so the structural scans use a Savitzky-Golay denoised copy "
        observation += f"(window {int(s['noise.denoise_window'])}, polyorder 2). "
    observation += _scan_sentence(s, robust=True)
    checks = "; ".join(_CLEAN_EVIDENCE[name](s) for name in _STRUCTURAL)
    reasoning = f"Structural scan: {checks}."
    if report.detector == "none":
        reasoning += " No probe passes its threshold."
        conclusion = f"No anomalous interval is found: []. The series is {NORMAL}."
    else:
        found = _sentence(_ksigma_evidence(s)) + ", " if report.detector == "ksigma" else ""
        reasoning += (
            f" Decisive evidence ({report.detector}): {found}{_DECISIVE[report.detector]} {_spans(report.intervals)}."
        )
        conclusion = f"The probes localize {_spans(report.intervals)} as a {report.label} anomaly."
    return _layout(observation, reasoning, conclusion)


def _check_ground_truth(length: int, category: str, intervals, label: str) -> list[tuple[int, int]]:
    if category not in CATEGORY_TO_CLASS:
        raise ValueError(f"unknown category {category!r}; known: {sorted(CATEGORY_TO_CLASS)}")
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; expected one of {CLASSES}")
    spans = [(int(s), int(e)) for s, e in intervals]
    previous_end = 0
    for s, e in spans:
        if not (previous_end <= s < e <= length):
            raise ValueError(
                f"ground-truth intervals must be sorted, disjoint, end-exclusive within [0, {length}]: {spans}"
            )
        previous_end = e
    if (label == NORMAL) != (not spans):
        raise ValueError(f"label {label!r} does not fit {len(spans)} ground-truth interval(s)")
    return spans


def faithful_detector(category: str, max_z: float) -> str:
    """The authors' choice: global scan first, then the category name decides (trend, freq/seasonal, else discord)."""
    if max_z > GLOBAL_Z:
        return "ksigma"
    if "trend" in category:
        return "trend"
    if "freq" in category or category == "seasonal":
        return "freq"
    return "discord"


_CLASS_SENTENCE = {
    "global point": "the samples in {gt} lie far outside the range of the rest of the series",
    "contextual point": "the values in {gt} break the local pattern while staying within the overall range",
    "seasonal": "within {gt} the periodic pattern changes its frequency",
    "trend": "within {gt} the slope departs from the surrounding trend",
    "shapelet": "the subsequence in {gt} has a shape unlike the recurring pattern",
}


def faithful_trace(values, category: str, intervals, label: str) -> str:
    """The authors' ExpCoT: states the ground-truth ``label`` and ``intervals`` and the detector evidence."""
    x = probes.as_series(values)
    gt = _check_ground_truth(x.size, category, intervals, label)
    denoised = category.startswith("noisy-")
    series = probes.denoise(x) if denoised else x
    scan = probes.ksigma_probe(series)
    detector = faithful_detector(category, scan.stats["max_z"])
    probe = {
        "ksigma": lambda v: scan,
        "trend": probes.trend_probe,
        "freq": probes.freq_probe,
        "discord": probes.discord_probe,
    }[detector](series)
    s = {**_stats_for(scan, "ksigma"), **_stats_for(probe, detector)}

    observation = ""
    if denoised:
        observation += (
            f"[Preprocess] The {category} series is denoised with a Savitzky-Golay filter "
            f"(window {probes.denoise_window(x.size)}, polyorder 2). "
        )
    if gt:
        observation = f"Ground truth labels {_spans(gt)} as \\textit{{{label}}}. " + observation
        reasoning = _sentence(_CLASS_SENTENCE[label].format(gt=_spans(gt))) + f", a {label} anomaly. "
        conclusion = f"We report the GT interval(s) {_spans(gt)} as the final localization for supervision."
    else:
        observation = f"No ground-truth anomalies are present; the series is \\textit{{{NORMAL}}}. " + observation
        reasoning = "The ground truth marks no interval. "
        conclusion = "We report no interval, [], as the final localization for supervision."
    observation += _scan_sentence(s, robust=False)
    reasoning += (
        f"Detector evidence ({detector}): {_sentence(_EVIDENCE[detector](s))}, proposing {_spans(probe.intervals)}."
    )
    conclusion += f" For reference, the detector proposed {_spans(probe.intervals)}."
    return _layout(observation, reasoning, conclusion)
