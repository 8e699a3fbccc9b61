"""Each probe against a known injected anomaly, against clean signals, and against independent oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage, signal, stats

from verl_anomseer.expcot import probes
from verl_anomseer.expcot.probes import MIN_LENGTH


def _overlaps(intervals, start, end) -> bool:
    return any(s < end and start < e for s, e in intervals)


def _runs_oracle(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True via scipy.ndimage.label (independent of the package's mask_to_intervals)."""
    labels, _ = ndimage.label(mask)
    return [(sl[0].start, sl[0].stop) for sl in ndimage.find_objects(labels)]


# ---- k-sigma range detector ------------------------------------------------------------------------------------
def test_ksigma_matches_scipy_zscore_oracle(rng):
    x = rng.normal(0, 0.1, 1000)
    x[300:320] += 0.7
    x[700:705] -= 0.6
    expected = _runs_oracle(np.abs(stats.zscore(x)) > 3.0)
    result = probes.ksigma_probe(x)
    assert result.intervals == expected
    assert _overlaps(result.intervals, 300, 320) and _overlaps(result.intervals, 700, 705)
    assert result.stats["mean"] == pytest.approx(x.mean())
    assert result.stats["std"] == pytest.approx(x.std())
    assert result.stats["upper"] == pytest.approx(x.mean() + 3 * x.std())
    assert result.stats["max_z"] == pytest.approx(np.abs(stats.zscore(x)).max())
    robust_std = 1.4826 * np.median(np.abs(x - np.median(x)))  # hand-derived normal-consistent MAD
    assert result.stats["max_robust_z"] == pytest.approx(np.abs(x - np.median(x)).max() / robust_std, rel=1e-4)


def test_ksigma_finds_nothing_on_clean_sine(sine):
    result = probes.ksigma_probe(sine)
    assert result.intervals == []
    assert result.stats["max_z"] == pytest.approx(math.sqrt(2), rel=1e-2)  # |sin| peaks at sqrt(2) std


# ---- trend: Savitzky-Golay smoothed gradient -------------------------------------------------------------------
def test_trend_finds_a_slope_change(sine):
    x = sine * 0.05
    x[500:550] += np.linspace(0, 2.5, 50)  # a steep ramp ...
    x[550:] += 2.5  # ... whose level persists
    result = probes.trend_probe(x)
    assert _overlaps(result.intervals, 500, 550)
    assert all(s >= 480 and e <= 570 for s, e in result.intervals)
    assert result.stats["longest_run"] >= 25


def test_trend_gradient_matches_the_analytic_derivative():
    t = np.arange(1000)
    x = 0.8 * np.sin(2 * np.pi * 0.01 * t) + 0.002 * t  # slow enough for the 21-point smoother to keep its shape
    derivative = 0.8 * 2 * np.pi * 0.01 * np.cos(2 * np.pi * 0.01 * t) + 0.002
    result = probes.trend_probe(x)
    assert result.stats["grad_mean"] == pytest.approx(derivative.mean(), rel=0.02)
    assert result.stats["grad_std"] == pytest.approx(derivative.std(), rel=0.02)


def test_trend_finds_nothing_on_clean_sine(sine):
    assert probes.trend_probe(sine).intervals == []


# ---- frequency: sliding-window FFT dominant period -------------------------------------------------------------
def test_dominant_periods_match_scipy_periodogram(rng):
    x = np.sin(2 * np.pi * 0.03 * np.arange(400)) + rng.normal(0, 0.2, 400)
    periods = probes.dominant_periods(x, 100)
    for start in (0, 57, 123, 300):
        freqs, power = signal.periodogram(x[start : start + 100], detrend="constant")
        assert periods[start] == pytest.approx(1.0 / freqs[np.argmax(power[1:]) + 1])


def test_freq_finds_a_frequency_change():
    frequency = np.full(1000, 0.03)
    frequency[450:520] *= 3
    x = np.sin(2 * np.pi * np.cumsum(frequency))
    result = probes.freq_probe(x)
    assert _overlaps(result.intervals, 450, 520)
    assert result.stats["period_std"] >= 1.0
    assert result.stats["n_flagged_windows"] > 0
    assert result.stats["period_min"] < 20 < result.stats["period_max"]


def test_freq_finds_nothing_on_clean_sine(sine):
    result = probes.freq_probe(sine)
    assert result.intervals == []
    assert result.stats["period_mean"] == pytest.approx(100 / 3)


# ---- discord: stumpy matrix profile ----------------------------------------------------------------------------
def _naive_matrix_profile(x: np.ndarray, m: int) -> np.ndarray:
    """Brute-force z-normalized nearest-neighbour distance with stumpy's exclusion zone ceil(m / 4)."""
    subs = np.lib.stride_tricks.sliding_window_view(x, m)
    z = (subs - subs.mean(1, keepdims=True)) / subs.std(1, keepdims=True)
    dist = np.sqrt(np.maximum(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1), 0))
    zone = math.ceil(m / 4)
    idx = np.arange(len(subs))
    dist[np.abs(idx[:, None] - idx[None, :]) <= zone] = np.inf
    return dist.min(1)


def test_discord_matches_brute_force_matrix_profile(rng):
    x = np.sin(2 * np.pi * 0.05 * np.arange(240)) + rng.normal(0, 0.05, 240)
    x[150:165] = rng.normal(0, 0.6, 15)
    profile = _naive_matrix_profile(x / np.abs(x).max(), 20)
    result = probes.discord_probe(x, m=20)
    assert result.stats["discord_index"] == np.argmax(profile)
    assert result.stats["discord_score"] == pytest.approx(profile.max(), rel=1e-6)
    z = (profile.max() - profile.mean()) / profile.std()
    assert result.stats["discord_z"] == pytest.approx(z, rel=1e-6)
    assert result.intervals == ([(int(np.argmax(profile)), int(np.argmax(profile)) + 20)] if z > 3.5 else [])


def test_discord_finds_a_replaced_segment(sine, rng):
    x = sine.copy()
    x[600:630] = rng.normal(0, 0.5, 30)
    result = probes.discord_probe(x)
    assert len(result.intervals) == 1 and _overlaps(result.intervals, 600, 630)


def test_discord_finds_nothing_on_clean_sine(sine):
    assert probes.discord_probe(sine).intervals == []


def test_discord_window_shrinks_on_short_series(rng):
    result = probes.discord_probe(rng.normal(size=MIN_LENGTH))
    assert result.stats["m"] == MIN_LENGTH // 4


# ---- denoising and noise level ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("length", "window"), [(64, 17), (100, 25), (1000, 31), (5000, 31)])
def test_denoise_is_the_authors_savgol(length, window, rng):
    x = rng.normal(size=length)
    assert probes.denoise_window(length) == window
    np.testing.assert_allclose(probes.denoise(x), signal.savgol_filter(x, window, 2), rtol=1e-12, atol=1e-12)


def test_noise_ratio_separates_white_noise_from_smooth_signals(sine, rng):
    assert probes.noise_ratio(rng.normal(0, 0.3, 5000)) == pytest.approx(1.0, abs=0.1)
    assert probes.noise_ratio(sine) < 0.05
    assert probes.noise_ratio(sine + rng.normal(0, 0.08, sine.size)) > 0.1


# ---- slope shift: period-cancelled mean slope (the clean mode's trend test) ---------------------------------------
@pytest.mark.parametrize(("frequency", "width"), [(0.02, 100), (0.03, 100), (0.025, 120)])
def test_cancelling_window_is_a_whole_number_of_periods(frequency, width):
    x = np.sin(2 * np.pi * frequency * np.arange(1000)) + 0.002 * np.arange(1000)
    assert probes.cancelling_window(x) == width
    # oracle: scipy's moving average of the sine over that width leaves (almost) nothing
    residual = ndimage.uniform_filter1d(np.sin(2 * np.pi * frequency * np.arange(1000)), width, mode="wrap")
    assert np.abs(residual).max() < 1e-9


def test_slope_shift_level_gain_is_the_hand_derived_excess():
    """x = cumsum(slope), slope 0.001 with 0.004 on [600, 700): the level gained is 0.003 * 100 = 0.3."""
    slope = np.full(1000, 0.001)
    slope[600:700] = 0.004
    x = np.cumsum(slope) + 0.5 * np.sin(2 * np.pi * 0.02 * np.arange(1000))
    result = probes.slope_shift_probe(x)
    ((start, end),) = result.intervals
    assert abs(start - 600) <= 30 and abs(end - 700) <= 30
    assert result.stats["slope_median"] == pytest.approx(0.001, rel=1e-6)
    assert result.stats["level_shift"] == pytest.approx(0.3, rel=0.02)
    assert result.stats["longest_run"] >= result.stats["window"]


def test_slope_shift_reaching_the_end_extends_to_the_end():
    slope = np.full(1000, 0.001)
    slope[850:] = 0.01
    result = probes.slope_shift_probe(np.cumsum(slope) + np.sin(2 * np.pi * 0.02 * np.arange(1000)))
    assert result.intervals and result.intervals[-1][1] == 1000 and abs(result.intervals[-1][0] - 850) <= 30


def test_a_bump_that_falls_back_is_not_a_slope_shift(sine, rng):
    """A level bump or a replaced segment rises and returns: the opposite lobe rules it out."""
    bumped = sine.copy()
    bumped[500:530] += 0.8
    replaced = sine.copy()
    replaced[400:440] = rng.normal(0, 0.5, 40)
    for x in (bumped, replaced, sine, rng.normal(0, 1.0, 1000), sine + 0.003 * np.arange(1000)):
        assert probes.slope_shift_probe(x).intervals == []


# ---- contracts ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "probe",
    [probes.ksigma_probe, probes.trend_probe, probes.freq_probe, probes.discord_probe, probes.slope_shift_probe],
)
def test_probes_reject_bad_series(probe):
    with pytest.raises(ValueError, match="MIN_LENGTH"):
        probe(np.zeros(MIN_LENGTH - 1))
    with pytest.raises(ValueError, match="non-finite"):
        probe(np.r_[np.zeros(MIN_LENGTH), np.nan])
    with pytest.raises(ValueError, match="1-D"):
        probe(np.zeros((2, MIN_LENGTH)))


def test_probe_parameters_are_validated(sine):
    with pytest.raises(ValueError, match="k must be > 0"):
        probes.ksigma_probe(sine, k=0)
    with pytest.raises(ValueError, match="window must be odd"):
        probes.trend_probe(sine, window=20)
    with pytest.raises(ValueError, match="max_return must be > 0"):
        probes.slope_shift_probe(sine, max_return=0)
    with pytest.raises(ValueError, match="m must be >= 3"):
        probes.discord_probe(sine, m=2)


@pytest.mark.parametrize(
    "probe",
    [probes.ksigma_probe, probes.trend_probe, probes.freq_probe, probes.discord_probe, probes.slope_shift_probe],
)
@pytest.mark.parametrize("value", [0.0, -3.5, 1e308])
def test_constant_series_give_zero_stats_and_no_intervals(probe, value):
    result = probe(np.full(200, value))
    assert result.intervals == []
    assert all(math.isfinite(v) for v in result.stats.values())


def test_interval_wrappers_return_the_probe_intervals(sine, rng):
    x = sine.copy()
    x[600:630] = rng.normal(0, 0.5, 30)
    assert probes.discord_intervals(x) == probes.discord_probe(x).intervals
    assert probes.ksigma_intervals(x, k=1.0) == probes.ksigma_probe(x, k=1.0).intervals
    assert probes.trend_intervals(x) == probes.trend_probe(x).intervals
    assert probes.freq_intervals(x) == probes.freq_probe(x).intervals
