"""The classical probes: each scans one univariate series and returns its intervals and the statistics a trace quotes.

All probes share one contract:
- input: a 1-D array of at least ``MIN_LENGTH`` finite values (else ``ValueError``);
- output: ``ProbeResult(intervals, stats)``; intervals are end-exclusive ``(start, end)``, sorted and disjoint;
  ``stats`` holds plain floats, never NaN (a constant series gives zeros and no intervals).
Scores are computed on the series divided by ``max|x|`` so that huge values cannot overflow; statistics are
reported in the series' own units. Variations below ``FLAT_REL_STD`` of that scale count as a flat series.

Probes (defaults = the authors' released values):
- ``ksigma_probe``: z = |x - mean| / std; flags z > k (k = 3). ``max_z`` is the authors' global-scan score;
  ``max_robust_z`` = max |x - median| / (1.4826 MAD, scipy's normal-scaled MAD) is the clean mode's (outliers
  cannot inflate it).
- ``trend_probe``: g = gradient(savgol(x, 21, 2)); flags |g - mean(g)| > k std(g) (k = 3).
- ``freq_probe``: sliding windows of 100 at stride 1, dominant period = window / argmax_k |rfft|^2 (DC zeroed);
  when std(period) >= 1, flags every window [i, i + window) whose period is outside mean +- k std (k = 3;
  the band's lower end is floored at 0).
- ``slope_shift_probe`` (clean mode's trend test): the mean slope d_i = (y[i + W] - y[i]) / W of a width-W moving
  average y, W a whole number of dominant periods (``cancelling_window``), so a seasonal sine cancels exactly;
  flags runs of |d - median d| > k robust std (k = 3) lasting >= W samples whose level gain is not undone nearby.
- ``discord_probe``: stumpy matrix profile with m = 50; the top discord [i, i + m) when its z-score > 3.5.
- ``shape_probe``: stumpy matrix profile with m = one dominant period; a sample's score is the least profile value
  over the subsequences that contain it, flagged when its robust z > k (``SHAPE_K``, calibrated).
- ``denoise``: Savitzky-Golay, window max(5, min(31, (L // 4) | 1)), polyorder 2.
- ``noise_ratio``: robust noise std from second differences, 1.4826 MAD(diff2 x) / sqrt(6), over std(x).
Short series shrink the windows: freq window <= L // 2, discord m <= L // 4 (stats record the values used).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import savgol_filter
from scipy.stats import median_abs_deviation

from verl_anomseer.series.intervals import mask_to_intervals
from verl_anomseer.validation import check_positive

MIN_LENGTH = 64
FLAT_REL_STD = 1e-9
_FLOAT_MAX = float(np.finfo(np.float64).max)
PARALLEL_STUMP_LENGTH = 10_000
_FREQ_CHUNK = 8192  # windows per rfft batch: bounds memory on very long series
SPIKE_RADIUS = 2
SPIKE_K = 8.0  # calibrated on the AnomLLM train split: python benchmarks/results.py --calibrate-only
SPIKE_FLOOR = 0.01
SHAPE_K = 24.0  # calibrated on the AnomLLM train split: python benchmarks/results.py --calibrate-only
SHAPE_MIN_M = 8


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found: end-exclusive intervals and the numbers that support them."""

    intervals: list[tuple[int, int]]
    stats: dict[str, float] = field(default_factory=dict)


def as_series(values) -> np.ndarray:
    """``values`` as a float64 1-D array, checked: at least ``MIN_LENGTH`` points, all finite."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"a series must be 1-D; got an array of shape {x.shape}")
    if x.size < MIN_LENGTH:
        raise ValueError(f"series has {x.size} points; the ExpCoT probes need at least MIN_LENGTH={MIN_LENGTH}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"series has {bad.size} non-finite values (first at index {bad[0]}); clean or drop them first")
    return x


def _scaled(x: np.ndarray) -> tuple[np.ndarray, float]:
    """x / max|x| and that scale (1.0 for an all-zero series)."""
    scale = float(np.max(np.abs(x)))
    if scale == 0.0:
        return np.zeros_like(x), 1.0
    return x / scale, scale


def _units(value: float, scale: float) -> float:
    """A scaled statistic back in the series' units, clipped to the finite float range (rounding noise -> 0)."""
    if abs(value) < FLAT_REL_STD:
        return 0.0
    with np.errstate(over="ignore"):
        return float(np.clip(value * scale, -_FLOAT_MAX, _FLOAT_MAX))


def _zscores(v: np.ndarray, floor: float = FLAT_REL_STD) -> tuple[float, float, np.ndarray]:
    """(mean, std, |v - mean| / std); std 0 and all-zero scores when std <= floor (rounding noise, not signal)."""
    mean, std = float(v.mean()), float(v.std())
    if std <= floor:
        return mean, 0.0, np.zeros_like(v)
    return mean, std, np.abs(v - mean) / std


def ksigma_probe(values, k: float = 3.0) -> ProbeResult:
    """Global k-sigma range detector: runs of samples outside mean +- k std."""
    check_positive("k", k, allow_inf=True)
    xs, scale = _scaled(as_series(values))
    mean, std, z = _zscores(xs)
    median = float(np.median(xs))
    robust_std = float(median_abs_deviation(xs, scale="normal"))
    robust_z = np.abs(xs - median) / robust_std if robust_std > FLAT_REL_STD else np.zeros_like(xs)
    mask = z > k
    stats = {
        "mean": _units(mean, scale),
        "std": _units(std, scale),
        "k": float(k),
        "lower": _units(mean - k * std, scale),
        "upper": _units(mean + k * std, scale),
        "max_z": float(z.max()),
        "argmax_z": float(np.argmax(z)),
        "n_flagged": float(mask.sum()),
        "median": _units(median, scale),
        "robust_std": _units(robust_std, scale),
        "max_robust_z": float(robust_z.max()),
    }
    return ProbeResult(mask_to_intervals(mask), stats)


def trend_probe(values, window: int = 21, polyorder: int = 2, k: float = 3.0) -> ProbeResult:
    """Trend detector: runs where the Savitzky-Golay smoothed gradient is more than k std from its mean."""
    check_positive("k", k, allow_inf=True)
    xs, scale = _scaled(as_series(values))
    if window <= polyorder or window % 2 == 0 or window > xs.size:
        raise ValueError(
            f"window must be odd, > polyorder and <= the series length; got window={window}, polyorder={polyorder}"
        )
    grad = np.gradient(savgol_filter(xs, window, polyorder))
    mean, std, z = _zscores(grad)
    mask = z > k
    runs = mask_to_intervals(mask)
    stats = {
        "window": float(window),
        "grad_mean": _units(mean, scale),
        "grad_std": _units(std, scale),
        "k": float(k),
        "max_grad_z": float(z.max()),
        "n_flagged": float(mask.sum()),
        "longest_run": float(max((e - s for s, e in runs), default=0)),
    }
    return ProbeResult(runs, stats)


def dominant_periods(values, window: int = 100) -> np.ndarray:
    """Dominant period of every length-``window`` sliding window (stride 1); 0 where a window is flat."""
    x = np.asarray(values, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, window)
    periods = np.zeros(windows.shape[0])
    for start in range(0, windows.shape[0], _FREQ_CHUNK):
        block = windows[start : start + _FREQ_CHUNK]
        centred = block - block.mean(axis=1, keepdims=True)
        power = np.abs(np.fft.rfft(centred, axis=1)) ** 2
        power[:, 0] = 0.0
        peak = power.argmax(axis=1)
        oscillates = (centred.std(axis=1) > FLAT_REL_STD) & (peak > 0)
        periods[start : start + block.shape[0]] = np.where(oscillates, window / np.maximum(peak, 1), 0.0)
    return periods


def freq_probe(values, window: int = 100, k: float = 3.0, min_period_std: float = 1.0) -> ProbeResult:
    """Frequency detector: windows whose dominant period leaves mean +- k std (when that std >= min_period_std)."""
    check_positive("k", k, allow_inf=True)
    check_positive("window", window, allow_inf=True)
    xs, _ = _scaled(as_series(values))
    window = int(min(window, xs.size // 2))
    periods = dominant_periods(xs, window)
    valid = periods > 0
    mask = np.zeros(xs.size, dtype=bool)
    mean = std = 0.0
    max_z = 0.0
    n_windows = 0
    if valid.sum() >= 2:
        mean, std, z = _zscores(periods[valid])
        max_z = float(z.max())
        if std >= min_period_std:
            starts = np.flatnonzero(valid)[z > k]
            n_windows = int(starts.size)
            # Mark [i, i + window) for every flagged window start i: a difference array over the series.
            delta = np.zeros(xs.size + 1, dtype=np.int64)
            np.add.at(delta, starts, 1)
            np.add.at(delta, starts + window, -1)
            mask = np.cumsum(delta[:-1]) > 0
    stats = {
        "window": float(window),
        "period_mean": mean,
        "period_std": std,
        "k": float(k),
        "lower": max(0.0, mean - k * std),
        "upper": mean + k * std,
        "period_min": float(periods[valid].min()) if valid.any() else 0.0,
        "period_max": float(periods[valid].max()) if valid.any() else 0.0,
        "max_period_z": max_z,
        "n_flagged_windows": float(n_windows),
    }
    return ProbeResult(mask_to_intervals(mask), stats)


def _matrix_profile(xs: np.ndarray, m: int) -> np.ndarray:
    """stumpy's matrix profile; on one numba thread below ``PARALLEL_STUMP_LENGTH`` samples, where the parallel
    launch costs more than it saves (3-4x slower at L = 1000 on 2 busy cores) and callers parallelise by process."""
    import numba
    import stumpy

    threads = numba.get_num_threads()
    if xs.size < PARALLEL_STUMP_LENGTH:
        numba.set_num_threads(1)
    try:
        # Constant and near-identical subsequences (e.g. a straight line) are valid input; stumpy handles them.
        with warnings.catch_warnings(), np.errstate(divide="ignore"):
            warnings.filterwarnings("ignore", message="A large number of values", category=UserWarning)
            return np.asarray(stumpy.stump(xs, m)[:, 0], dtype=np.float64)
    finally:
        numba.set_num_threads(threads)


def discord_probe(values, m: int = 50, z_threshold: float = 3.5) -> ProbeResult:
    """Matrix-profile discord: the subsequence [i, i + m) farthest from its nearest neighbour, when z > z_threshold."""
    from verl_anomseer.expcot import stumpy_cache

    if m < 3:
        raise ValueError(f"discord window m must be >= 3; got {m}")
    xs, _ = _scaled(as_series(values))
    m = int(min(m, xs.size // 4))
    stats = {"m": float(m), "discord_index": 0.0, "discord_score": 0.0, "mp_mean": 0.0, "mp_std": 0.0, "discord_z": 0.0}
    if xs.std() <= FLAT_REL_STD:
        return ProbeResult([], stats)
    stumpy_cache.enable()
    profile = _matrix_profile(xs, m)
    finite = np.isfinite(profile)
    if not finite.any():
        return ProbeResult([], stats)
    idx = int(np.flatnonzero(finite)[np.argmax(profile[finite])])
    mean, std, _ = _zscores(profile[finite])
    z = (profile[idx] - mean) / std if std > FLAT_REL_STD else 0.0
    stats.update(
        discord_index=float(idx), discord_score=float(profile[idx]), mp_mean=mean, mp_std=std, discord_z=float(z)
    )
    return ProbeResult([(idx, idx + m)] if z > z_threshold else [], stats)


def shape_window(values) -> int:
    """One dominant period, round(1 / ``dominant_frequency``), within [``SHAPE_MIN_M``, L // 4] (L // 4 without one)."""
    xs = np.asarray(values, dtype=np.float64)
    f = dominant_frequency(xs)
    top = xs.size // 4
    return top if f == 0.0 else int(np.clip(round(1.0 / f), SHAPE_MIN_M, top))


def shape_probe(values, k: float = SHAPE_K) -> ProbeResult:
    """Window-level shape change: samples every subsequence around which is unlike the rest of the series.

    P = the z-normalised matrix profile with m = ``shape_window`` (each length-m subsequence's distance to its
    nearest non-trivial neighbour); a sample t scores s_t = min P[i] over the subsequences [i, i + m) holding it,
    so s_t is high only when every window through t is a discord. z = (s - median s) / (1.4826 MAD s) (MAD
    floored at rounding level); flags z > k. A seasonal period, level or slope the rest of the series shares
    scores low; a stretch with another frequency or shape, or a ramp between two levels, scores high.
    ``score_median`` and ``score_spread`` are distances between standardised subsequences: unitless.
    """
    from verl_anomseer.expcot import stumpy_cache

    check_positive("k", k, allow_inf=True)
    xs, _ = _scaled(as_series(values))
    m = shape_window(xs)
    stats = {"m": float(m), "score_median": 0.0, "score_spread": 0.0, "k": float(k), "max_z": 0.0}
    stats |= {"argmax_z": 0.0, "n_flagged": 0.0}
    if xs.std() <= FLAT_REL_STD:
        return ProbeResult([], stats)
    stumpy_cache.enable()
    profile = _matrix_profile(xs, m)
    profile[~np.isfinite(profile)] = 0.0  # no distance: no evidence
    score = sliding_window_view(np.pad(profile, m - 1, constant_values=np.inf), m).min(axis=1)
    center = float(np.median(score))
    spread = max(float(median_abs_deviation(score, scale="normal")), FLAT_REL_STD)
    z = (score - center) / spread
    mask = z > k
    stats.update(
        score_median=center,
        score_spread=spread,
        max_z=float(z.max()),
        argmax_z=float(np.argmax(z)),
        n_flagged=float(mask.sum()),
    )
    return ProbeResult(mask_to_intervals(mask), stats)


def denoise_window(length: int) -> int:
    """The authors' Savitzky-Golay denoising window: max(5, min(31, (L // 4) | 1))."""
    return max(5, min(31, (length // 4) | 1))


def denoise(values) -> np.ndarray:
    """Savitzky-Golay denoised copy of the series (polyorder 2, window ``denoise_window(L)``)."""
    xs, scale = _scaled(as_series(values))
    smooth = savgol_filter(xs, denoise_window(xs.size), 2)
    with np.errstate(over="ignore"):
        return np.clip(smooth * scale, -_FLOAT_MAX, _FLOAT_MAX)


def noise_ratio(values) -> float:
    """Robust white-noise std (1.4826 MAD of second differences / sqrt 6) over the series' std; 0 when flat."""
    xs, _ = _scaled(as_series(values))
    std = float(xs.std())
    if std <= FLAT_REL_STD:
        return 0.0
    sigma = float(median_abs_deviation(np.diff(xs, 2), scale="normal")) / np.sqrt(6.0)
    return sigma / std


def _neighbour_median(xs: np.ndarray, radius: int) -> np.ndarray:
    """Per sample, the median of its ``2 radius`` neighbours (itself excluded, the edges repeated)."""
    around = sliding_window_view(np.pad(xs, radius, mode="edge"), 2 * radius + 1)
    return np.median(np.delete(around, radius, axis=1), axis=1)


def spike_probe(values, radius: int = SPIKE_RADIUS, k: float = SPIKE_K, floor: float = SPIKE_FLOOR) -> ProbeResult:
    """Isolated-point detector: samples far from the median of their ``2 radius`` neighbours (itself excluded).

    r = x - neighbour median, z = |r - median r| / max(1.4826 MAD(r), floor); flags z > k, then once more against
    neighbours in which the flagged samples are replaced by linear interpolation from the unflagged ones (so a
    spike does not drag its neighbours over the threshold). ``floor`` (a share of max|x|) keeps a clean curve's own
    tiny residuals from counting.
    ``n_outside`` counts flagged samples beyond the range of the unflagged ones (global rather than contextual).
    """
    check_positive("k", k, allow_inf=True)
    xs, scale = _scaled(as_series(values))
    resid = xs - _neighbour_median(xs, radius)
    center = float(np.median(resid))
    spread = max(float(median_abs_deviation(resid, scale="normal")), floor)
    first = np.abs(resid - center) / spread > k
    repaired = xs.copy()
    if first.any() and not first.all():  # flagged samples replaced by a line through their unflagged neighbours
        index = np.arange(xs.size)
        repaired[first] = np.interp(index[first], index[~first], xs[~first])
    z = np.abs(xs - _neighbour_median(repaired, radius) - center) / spread
    mask = z > k
    rest = xs[~mask]
    outside = mask & ((xs > rest.max()) | (xs < rest.min())) if rest.size else mask
    stats = {
        "radius": float(radius),
        "k": float(k),
        "resid_std": _units(spread, scale),
        "max_z": float(z.max()),
        "n_flagged": float(mask.sum()),
        "n_outside": float(outside.sum()),
    }
    return ProbeResult(mask_to_intervals(mask), stats)


def ksigma_intervals(values, k: float = 3.0) -> list[tuple[int, int]]:
    """Intervals of ``ksigma_probe``."""
    return ksigma_probe(values, k).intervals


def trend_intervals(values) -> list[tuple[int, int]]:
    """Intervals of ``trend_probe`` with the authors' settings."""
    return trend_probe(values).intervals


def freq_intervals(values, window: int = 100) -> list[tuple[int, int]]:
    """Intervals of ``freq_probe``."""
    return freq_probe(values, window).intervals


def discord_intervals(values, m: int = 50, z_threshold: float = 3.5) -> list[tuple[int, int]]:
    """Intervals of ``discord_probe``."""
    return discord_probe(values, m, z_threshold).intervals


def dominant_frequency(values, max_fraction: float = 0.25) -> float:
    """f = argmax_j |rfft(diff x, n = L)|_j^2 / L over periods <= max_fraction L; 0 when there is no peak.

    The difference keeps a slope change's low-frequency leakage from outranking a seasonal sine."""
    xs = np.asarray(values, dtype=np.float64)
    power = np.abs(np.fft.rfft(np.diff(xs), n=xs.size)) ** 2
    power[: int(np.ceil(1.0 / max_fraction))] = 0.0  # DC and periods longer than max_fraction L
    peak = int(np.argmax(power))
    return peak / xs.size if peak > 0 and power[peak] > 0.0 else 0.0


def cancelling_window(values, min_fraction: float = 0.1, max_fraction: float = 0.25, tolerance: float = 0.01) -> int:
    """The smallest box width W in [min_fraction L, max_fraction L] whose moving average cancels the dominant sine.

    The dominant frequency f (``dominant_frequency``, periods <= max_fraction L); a width-W box passes a sine of
    frequency f with gain |sin(pi f W) / (W sin(pi f))|, zero when W is a whole number of periods. The first
    W with gain < ``tolerance``, moved to the least gain within half a period after it, wins; else the W of least
    gain; a series without a dominant frequency gets the smallest W.
    """
    xs = np.asarray(values, dtype=np.float64)
    lo = max(2, int(xs.size * min_fraction))
    widths = np.arange(lo, max(lo, int(xs.size * max_fraction)) + 1)
    f = dominant_frequency(xs, max_fraction)
    if f == 0.0:
        return int(widths[0])
    gain = np.abs(np.sin(np.pi * f * widths) / (widths * np.sin(np.pi * f)))
    cancelled = np.flatnonzero(gain < tolerance)
    if not cancelled.size:
        return int(widths[np.argmin(gain)])
    # the first width under the tolerance, moved to the least gain within half a period (the exact multiple)
    first = int(cancelled[0])
    near = gain[first : first + max(1, round(0.5 / f))]
    return int(widths[first + int(np.argmin(near))])


def _opposite_area(excess: np.ndarray, z: np.ndarray, sign: int, lo: int, hi: int, k: float) -> float:
    """Area of the opposite-sign lobe (samples with sign * z < -k) in excess[lo:hi]."""
    part = sign * excess[lo:hi]
    return float(-part[sign * z[lo:hi] < -k].sum()) + 0.0  # + 0.0: no negative zero


def slope_shift_probe(values, k: float = 3.0, max_return: float = 0.5) -> ProbeResult:
    """Sustained slope change: a run of the period-cancelled mean slope d away from its median, not undone later.

    y = moving average of width W (``cancelling_window``: a whole number of the dominant period, so the
    seasonal sine cancels), d_i = (y[i + W] - y[i]) / W = the triangle-weighted mean slope over x[i : i + 2W],
    centred at i + W. z = (d - median d) / (1.4826 MAD d) (MAD floored at rounding level). A run with sign * z > k
    is a slope shift when it lasts at least W samples and the opposite lobe within 2W on either side (samples
    with sign * z < -k) has less than ``max_return`` of its area: a bump that rises and falls back (a point or
    level anomaly) is not a slope change. The interval is the run's part above half its peak, shifted by W to
    the samples it averages (extended to the series end when the run reaches it).
    """
    check_positive("k", k, allow_inf=True)
    check_positive("max_return", max_return, allow_inf=True)
    xs, scale = _scaled(as_series(values))
    width = cancelling_window(xs)
    stats = {
        "window": float(width),
        "slope_median": 0.0,
        "slope_spread": 0.0,
        "k": float(k),
        "max_slope_z": 0.0,
        "longest_run": 0.0,
        "level_shift": 0.0,
        "return_ratio": 0.0,
    }
    if xs.std() <= FLAT_REL_STD:
        return ProbeResult([], stats)
    y = np.convolve(xs, np.full(width, 1.0 / width), mode="valid")
    d = (y[width:] - y[:-width]) / width
    baseline = float(np.median(d))
    spread = max(float(median_abs_deviation(d, scale="normal")), FLAT_REL_STD / width)
    excess = d - baseline
    z = excess / spread
    intervals: list[tuple[int, int]] = []
    longest = best_area = best_return = 0.0
    for sign in (1, -1):
        for start, end in mask_to_intervals(sign * z > k):
            area = float(sign * excess[start:end].sum())
            back = max(
                _opposite_area(excess, z, sign, max(0, start - 2 * width), start, k),
                _opposite_area(excess, z, sign, end, end + 2 * width, k),
            )
            near = np.r_[sign * z[max(0, start - width // 2) : start], sign * z[end : end + width // 2]]
            if end - start < width or back >= max_return * area or (near < -k).any():
                continue
            if area > best_area:
                longest, best_area, best_return = float(end - start), area, back / area
            peak = float(np.max(sign * z[start:end]))
            above = start + np.flatnonzero(sign * z[start:end] > peak / 2)
            lo, hi = int(above[0]) + width, int(above[-1]) + 1 + width
            intervals.append((min(lo, xs.size - 1), xs.size if end == d.size else min(hi, xs.size)))
    stats.update(
        slope_median=_units(baseline, scale),
        slope_spread=_units(spread, scale),
        max_slope_z=float(np.abs(z).max()),
        longest_run=longest,
        level_shift=_units(best_area, scale),
        return_ratio=best_return,
    )
    return ProbeResult(sorted(intervals), stats)
