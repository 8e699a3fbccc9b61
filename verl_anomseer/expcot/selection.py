"""Pick the probe from the data's statistics (no ground truth, no category name): the clean ExpCoT's analysis.

The hierarchical scan of the paper, with every branch decided by a measured statistic:
1. global scan: robust z, max |x - median| / (1.4826 MAD) > ``GLOBAL_Z`` -> the k-sigma detector ("global point");
2. noise: ``noise_ratio`` > ``NOISE_RATIO`` -> the structural scans run on the Savitzky-Golay denoised series;
3. trend: ``probes.slope_shift_probe`` on the raw series (its period-cancelling moving average needs no
   denoising) finds a sustained slope change that is not undone later -> "trend";
4. frequency: windows with an unusual dominant period -> "seasonal";
5. discord: matrix-profile discord z > 3.5 -> "contextual point";
6. shape: ``probes.shape_probe`` (on the denoised series when step 2 says so) finds stretches where every
   period-long window is unlike the rest -> "shapelet", provided they are more than the isolated points of
   step 7: every sample step 7 flags lies within ``probes.SPIKE_RADIUS`` of them (else the points elsewhere are
   the anomaly) and most of their samples are not flagged by it (else they are a burst of points); otherwise
   step 7 answers;
7. isolated points: ``probes.spike_probe`` on the raw series (samples far from their neighbours' median) ->
   "global point" when most flagged samples lie beyond the range of the rest, else "contextual point";
8. otherwise no interval, "normal".
Every probe runs, so ``stats`` always holds the same keys ("<probe>.<stat>" with probes ksigma, slope, freq,
discord, shape, spike, plus "noise.*"). The authors' Savitzky-Golay gradient probe (``trend_probe``) is not used
here: the sine's own gradient swamps AnomLLM's slope changes, so it never fired (it stays in the faithful mode).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.ndimage import binary_dilation

from verl_anomseer.expcot import probes
from verl_anomseer.series.intervals import intervals_to_mask
from verl_anomseer.series.taxonomy import NORMAL

GLOBAL_Z = 5.0
NOISE_RATIO = 0.25

DETECTOR_CLASS: dict[str, str] = {
    "ksigma": "global point",
    "trend": "trend",
    "freq": "seasonal",
    "discord": "contextual point",
    "shape": "shapelet",
    "spike": "contextual point",  # or "global point": see spike_class
    "none": NORMAL,
}

DETECTOR_PROBE: dict[str, str] = {
    "ksigma": "ksigma",
    "trend": "slope",
    "freq": "freq",
    "discord": "discord",
    "shape": "shape",
    "spike": "spike",
}


def spike_class(stats: dict[str, float], prefix: str = "") -> str:
    """ "global point" when most flagged samples lie beyond the range of the others, else "contextual point".

    ``stats``: the spike probe's (``prefix`` "") or a report's (``prefix`` "spike.")."""
    return "global point" if 2 * stats[prefix + "n_outside"] > stats[prefix + "n_flagged"] else "contextual point"


def beyond_points(shape: list[tuple[int, int]], spike: list[tuple[int, int]], length: int) -> bool:
    """Whether the ``shape`` intervals are more than isolated points: every ``spike`` sample lies within
    ``probes.SPIKE_RADIUS`` of them, and more than half of their samples are not spikes."""
    windows, spikes = intervals_to_mask(shape, length), intervals_to_mask(spike, length)
    near = binary_dilation(windows, iterations=probes.SPIKE_RADIUS)
    return not (spikes & ~near).any() and 2 * (windows & ~spikes).sum() > windows.sum()


def local_detector(shape: probes.ProbeResult, spike: probes.ProbeResult, length: int) -> str:
    """Steps 6-8 on a series of ``length``: "shape" when its intervals are ``beyond_points``, else "spike" when it
    flagged any sample, else "none"."""
    if shape.intervals and beyond_points(shape.intervals, spike.intervals, length):
        return "shape"
    return "spike" if spike.intervals else "none"


@dataclass(frozen=True)
class ProbeReport:
    """The chosen detector, its intervals and class, all probes' statistics, and whether the series was denoised."""

    detector: str
    intervals: list[tuple[int, int]]
    label: str
    stats: dict[str, float]
    denoised: bool


def analyze(values, spike_k: float = probes.SPIKE_K, shape_k: float = probes.SHAPE_K) -> ProbeReport:
    """Run every probe on ``values`` and pick the detector from the statistics alone (module docstring).

    ``spike_k``, ``shape_k``: the isolated-point and shape thresholds (defaults calibrated on the AnomLLM train
    split)."""
    x = probes.as_series(values)
    results = {"ksigma": probes.ksigma_probe(x)}
    noise = probes.noise_ratio(x)
    denoised = noise > NOISE_RATIO
    structural = probes.denoise(x) if denoised else x
    results["slope"] = probes.slope_shift_probe(x)
    results["freq"] = probes.freq_probe(structural)
    results["discord"] = probes.discord_probe(structural)
    results["shape"] = probes.shape_probe(structural, k=shape_k)
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
    else:
        detector = local_detector(results["shape"], results["spike"], x.size)
    intervals = [] if detector == "none" else results[DETECTOR_PROBE[detector]].intervals
    label = spike_class(results["spike"].stats) if detector == "spike" else DETECTOR_CLASS[detector]
    return ProbeReport(detector, list(intervals), label, stats, denoised)
