"""The inverse-velocity failure forecast (Fukuzono 1985; Voight 1988): before a slope or a serac
breaks off, its velocity grows as v ∝ 1/(t_f − t), so 1/v falls along a straight line that
reaches zero at the failure time t_f. The 2014 Whymper serac break-off was forecast this way
ten days ahead (Faillettaz et al., The Cryosphere 2016).

The forecast fits 1/v = a + b·t over a trailing window by weighted least squares (weights v²:
a velocity measured with a constant relative error has an inverse whose error shrinks as 1/v),
and is issued only when the fall is significant (b < 0 with a one-sided t-test at
:data:`SIGNIFICANCE`) and reaches zero within :data:`HORIZON` window spans. The failure date
is −a/b, its interval from the covariance of (a, b) by the delta method with Student's t
quantile. Known answers: ``tests/test_failure.py`` (1,000
steady and 1,000 accelerating synthetic series, 10 % velocity noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

WINDOW = 8
"""Observations in the trailing window: long enough for a trend, short enough to follow an onset."""
MIN_OBSERVATIONS = 5
SIGNIFICANCE = 0.002
"""One-sided p-value below which the fall of 1/v is a forecast. With 10 % velocity noise, steady
flow then issues a false forecast in 0.2 % of series (the goal is ≤ 1 %, measured in the tests)."""
INTERVAL = 0.9
"""Nominal coverage of the failure-date interval."""
HORIZON = 3.0
"""A forecast failure farther ahead than this many times the window's span is not issued: 1/v
falling slowly is an acceleration (its own alert), not an imminent break-off, and a line
extrapolated that far says little. Measured on the generated camera station: its whole glacier
speeds up by 8 % in 10 days (a serac inside it accelerating) and the line reached zero 3 months
later — issued, that was a false alarm; the serac's own forecast (2 days ahead) stays."""


def t_quantile(probability: float, df: int) -> float:
    """Student's t quantile by the Cornish–Fisher expansion around the normal one (error < 1e-3
    for df ≥ 3; the runtime has no scipy)."""
    z = NormalDist().inv_cdf(probability)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_sf(value: float, df: int) -> float:
    """One-sided p-value P(T ≥ value) for Student's t, by bisection on :func:`t_quantile`."""
    low, high = 1e-12, 1 - 1e-12
    for _ in range(60):
        middle = (low + high) / 2
        if t_quantile(middle, df) < value:
            low = middle
        else:
            high = middle
    return 1 - (low + high) / 2


@dataclass(frozen=True)
class FailureForecast:
    """An inverse-velocity forecast over the trailing window (times in days)."""

    issued: bool
    """The fall of 1/v is significant: a failure date is forecast."""
    failure_time: float | None
    """Days (on the input's time axis) when 1/v reaches zero."""
    low: float | None
    high: float | None
    """The :data:`INTERVAL` interval of the failure time."""
    slope: float
    """d(1/v)/dt, (day/px)/day (or per metre with speeds in m/day)."""
    p_value: float
    observations: int
    reason: str = ""
    """Why no forecast was issued ("" when issued)."""


def inverse_velocity_forecast(times: np.ndarray, speeds: np.ndarray, *, window: int = WINDOW,
                              significance: float = SIGNIFICANCE, interval: float = INTERVAL,
                              horizon: float = HORIZON) -> FailureForecast:
    """The forecast from the last ``window`` (time, speed) pairs with a positive finite speed."""
    times, speeds = np.asarray(times, np.float64), np.asarray(speeds, np.float64)
    usable = np.isfinite(times) & np.isfinite(speeds) & (speeds > 0)
    t, v = times[usable][-window:], speeds[usable][-window:]
    n = len(t)
    if n < MIN_OBSERVATIONS:
        return FailureForecast(False, None, None, None, 0.0, 1.0, n, f"{n} speeds (a trend needs {MIN_OBSERVATIONS})")
    weights = v**2
    inverse = 1.0 / v
    design = np.stack([np.ones(n), t - t.mean()], axis=1)
    w_design = design * weights[:, None]
    normal = design.T @ w_design
    params = np.linalg.solve(normal, w_design.T @ inverse)
    residual = inverse - design @ params
    df = n - 2
    sigma2 = float(np.sum(weights * residual**2) / df)
    covariance = np.linalg.inv(normal) * sigma2
    intercept, slope = params
    slope_se = float(np.sqrt(max(covariance[1, 1], 1e-300)))
    statistic = slope / slope_se
    p_value = t_sf(-statistic, df)  # one-sided: is 1/v falling?
    if not (slope < 0 and p_value < significance):
        return FailureForecast(False, None, None, None, float(slope), float(p_value), n,
                               f"1/v is not falling significantly (p = {p_value:.2g})")
    # 1/v = intercept + slope·(t − mean) = 0 → t_f − mean = −intercept / slope
    offset = -intercept / slope
    gradient = np.array([-1 / slope, intercept / slope**2])
    se = float(np.sqrt(max(gradient @ covariance @ gradient, 0.0)))
    half = t_quantile(0.5 + interval / 2, df) * se
    failure = float(t.mean() + offset)
    if failure - t[-1] > horizon * (t[-1] - t[0]):
        return FailureForecast(False, None, None, None, float(slope), float(p_value), n,
                               f"1/v falls, but would reach zero {failure - t[-1]:.0f} days ahead (beyond {horizon:g}× "
                               "the window): an acceleration, not an imminent failure")
    return FailureForecast(True, failure, failure - half, failure + half, float(slope), float(p_value), n)
