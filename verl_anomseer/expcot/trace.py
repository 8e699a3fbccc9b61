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
import string

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


# Evidence sentences, one per probe: its statistics (``ProbeReport.stats`` keys "<probe>.<stat>") quoted as
# {stat:int} (a count or index), {stat:num} (see ``_num``) or {stat:twice} (twice a count).
_TEMPLATES = {
    "ksigma": "{n_flagged:int} samples fall outside the {k:num}-sigma band [{lower:num}, {upper:num}]",
    "trend": (
        "the Savitzky-Golay smoothed gradient (window {window:int}, polyorder 2) has mean {grad_mean:num} and std "
        "{grad_std:num}; its largest deviation is {max_grad_z:num} std, {n_flagged:int} samples exceed {k:num} std "
        "and the longest such run lasts {longest_run:int} samples"
    ),
    "slope": (
        "the mean slope over two moving averages of width {window:int} (a whole number of the dominant period, so "
        "the oscillation cancels) has median {slope_median:num} and robust std {slope_spread:num}; its largest "
        "deviation is {max_slope_z:num} std, and the longest sustained shift beyond {k:num} std that is not undone "
        "lasts {longest_run:int} samples and adds a level of {level_shift:num}"
    ),
    "freq": (
        "the sliding-window FFT (window {window:int}, stride 1) gives a dominant period of {period_mean:num} on "
        "average with std {period_std:num} (from {period_min:num} to {period_max:num}), and "
        "{n_flagged_windows:int} windows leave [{lower:num}, {upper:num}]"
    ),
    "discord": (
        "the matrix profile (subsequence length {m:int}) has its top discord at index {discord_index:int} with "
        "distance {discord_score:num}, a z-score of {discord_z:num} against the profile mean {mp_mean:num} and std "
        "{mp_std:num} (threshold 3.5)"
    ),
    "shape": (
        "each subsequence of one dominant period ({m:int} samples) is compared with its nearest match elsewhere "
        "(matrix profile of the standardised subsequences), and each sample keeps the smallest distance among the "
        "subsequences through it; these scores have median {score_median:num} and robust std {score_spread:num}, "
        "the highest lies {max_z:num} std above the median at index {argmax_z:int}, and {n_flagged:int} samples "
        "exceed {k:num} std"
    ),
    "spike": (
        "against the median of its {radius:twice} neighbours each sample leaves a residual of robust std "
        "{resid_std:num}; the largest is {max_z:num} std, and {n_flagged:int} samples exceed {k:num} std "
        "({n_outside:int} of them beyond the range of the rest)"
    ),
}


class _StatFormatter(string.Formatter):
    def format_field(self, value: float, format_spec: str) -> str:
        quote = {"int": lambda v: str(int(v)), "twice": lambda v: str(2 * int(v)), "num": _num}
        return quote[format_spec](value)


_FORMATTER = _StatFormatter()


def _evidence(probe: str, s: dict[str, float]) -> str:
    """The evidence sentence of ``probe`` (a key of :data:`_TEMPLATES`) from the report's statistics ``s``."""
    prefix = probe + "."
    return _FORMATTER.format(_TEMPLATES[probe], **{k[len(prefix) :]: v for k, v in s.items() if k.startswith(prefix)})


_DECISIVE = {
    "ksigma": "so the extreme samples form",
    "trend": "the sustained slope shifts, mapped back to the samples they average, are",
    "freq": "the windows with an unusual period cover",
    "discord": "the discord subsequence is",
    "shape": "the stretches unlike every other part of the series are",
    "spike": "the isolated samples are",
}
# the statistics each detector's evidence quotes: the faithful mode's, and the clean mode's (trend: the slope probe)
_FAITHFUL_STATS = {"ksigma": "ksigma", "trend": "trend", "freq": "freq", "discord": "discord"}
_CLEAN_STATS = {**_FAITHFUL_STATS, "trend": "slope", "shape": "shape", "spike": "spike"}
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
    checks = "; ".join(_evidence(_CLEAN_STATS[name], s) for name in _STRUCTURAL)
    reasoning = f"Structural scan: {checks}."
    if report.detector == "none":
        reasoning += " No probe passes its threshold."
        conclusion = f"No anomalous interval is found: []. The series is {NORMAL}."
    else:
        found = _sentence(_evidence("ksigma", s)) + ", " if report.detector == "ksigma" else ""
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
        f"Detector evidence ({detector}): {_sentence(_evidence(_FAITHFUL_STATS[detector], s))}, "
        f"proposing {_spans(probe.intervals)}."
    )
    conclusion += f" For reference, the detector proposed {_spans(probe.intervals)}."
    return _layout(observation, reasoning, conclusion)
