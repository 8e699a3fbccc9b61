"""Pick the probe from the data's statistics (no ground truth, no category name): the clean ExpCoT's analysis.

The hierarchical scan of the paper, with every branch decided by a measured statistic:
1. global scan: robust z, max |x - median| / (1.4826 MAD) > ``GLOBAL_Z`` -> the k-sigma detector ("global point");
2. noise: ``noise_ratio`` > ``NOISE_RATIO`` -> the structural scans run on the Savitzky-Golay denoised series;
3. trend: ``probes.slope_shift_probe`` on the raw series (its period-cancelling moving average needs no
   denoising) finds a sustained slope change that is not undone later -> "trend";
4. frequency: windows with an unusual dominant period -> "seasonal";
5. discord: matrix-profile discord z > 3.5 -> "contextual point";
6. isolated points: ``probes.spike_probe`` on the raw series (samples far from their neighbours' median) ->
   "global point" when most flagged samples lie beyond the range of the rest, else "contextual point";
7. otherwise no interval, "normal".
Every probe runs, so ``stats`` always holds the same keys ("<probe>.<stat>" with probes ksigma, slope, freq,
discord, spike, plus "noise.*"). The authors' Savitzky-Golay gradient probe (``trend_probe``) is not used here: the
sine's own gradient swamps AnomLLM's slope changes, so it never fired (it stays in the faithful mode).
"""

from __future__ import annotations

from dataclasses import dataclass

from verl_anomseer.expcot import probes
from verl_anomseer.series.taxonomy import NORMAL

GLOBAL_Z = 5.0
NOISE_RATIO = 0.25

DETECTOR_CLASS: dict[str, str] = {
    "ksigma": "global point",
    "trend": "trend",
    "freq": "seasonal",
    "discord": "contextual point",
    "spike": "contextual point",  # or "global point": see spike_class
    "none": NORMAL,
}

DETECTOR_PROBE: dict[str, str] = {
    "ksigma": "ksigma",
    "trend": "slope",
    "freq": "freq",
    "discord": "discord",
    "spike": "spike",
}


def spike_class(stats: dict[str, float], prefix: str = "") -> str:
    """ "global point" when most flagged samples lie beyond the range of the others, else "contextual point".

    ``stats``: the spike probe's (``prefix`` "") or a report's (``prefix`` "spike.")."""
    return "global point" if 2 * stats[prefix + "n_outside"] > stats[prefix + "n_flagged"] else "contextual point"


@dataclass(frozen=True)
class ProbeReport:
    """The chosen detector, its intervals and class, all probes' statistics, and whether the series was denoised."""

    detector: str
    intervals: list[tuple[int, int]]
    label: str
    stats: dict[str, float]
    denoised: bool


def analyze(values, spike_k: float = probes.SPIKE_K) -> ProbeReport:
    """Run every probe on ``values`` and pick the detector from the statistics alone (module docstring).

    ``spike_k``: the isolated-point threshold (its default was calibrated on the AnomLLM train split)."""
    x = probes.as_series(values)
    results = {"ksigma": probes.ksigma_probe(x)}
    noise = probes.noise_ratio(x)
    denoised = noise > NOISE_RATIO
    structural = probes.denoise(x) if denoised else x
    results["slope"] = probes.slope_shift_probe(x)
    results["freq"] = probes.freq_probe(structural)
    results["discord"] = probes.discord_probe(structural)
    results["spike"] = probes.spike_probe(x, k=spike_k)

    stats = {f"{name}.{key}": value for name, result in results.items() for key, value in result.stats.items()}
    stats["noise.ratio"] = noise
    stats["noise.threshold"] = NOISE_RATIO
    stats["noise.denoise_window"] = float(probes.denoise_window(x.size))

    if results["ksigma"].stats["max_robust_z"] > GLOBAL_Z:
        detector = "ksigma"
    elif results["slope"].intervals:
        detector = "trend"
    elif results["freq"].intervals:
        detector = "freq"
    elif results["discord"].intervals:
        detector = "discord"
    elif results["spike"].intervals:
        detector = "spike"
    else:
        detector = "none"
    intervals = [] if detector == "none" else results[DETECTOR_PROBE[detector]].intervals
    label = spike_class(results["spike"].stats) if detector == "spike" else DETECTOR_CLASS[detector]
    return ProbeReport(detector, list(intervals), label, stats, denoised)
