"""The next speed, forecast with the machinery that forecasts the melt at a station: naive answers
combined by the online trust of :mod:`glacier_edge.signals.online` (AdaHedge weights with a
stated regret bound, an adaptive conformal 90 % interval with a stated coverage guarantee), and an
"unexpected acceleration" when the measured speed leaves that interval upward.

The experts, each from the speeds measured before the pair it forecasts: the **trend** (the last
speed extrapolated along the last change, per day, to the new pair's centre — the "model" slot of
the online trust), **persistence** (the last speed) and the **running mean**. Skill is
1 − MAE(forecast) / MAE(persistence), as for the melt. Measured in ``benchmarks/motion.py`` on
Perito Moreno, Columbia and the camera sample's serac.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacier_edge.signals.online import OnlineTrust

MIN_EXCESS_PX = 0.2
"""An unexpected acceleration must exceed its interval by at least this displacement (px over the
pair): four times the measured matching precision (0.05 px), so a glacier standing still (the
generated nadir sample: 0.0002 px/day) raises nothing on noise."""
PRIOR_SHARE = 0.25
"""Before 9 scored forecasts the interval is filled with this share of the first speed (the
station knows nothing else yet); the adaptive conformal level then takes over."""


@dataclass(frozen=True)
class SpeedForecast:
    """Per pair (aligned with the series): the forecast made before its speed was known."""

    value: np.ndarray
    """float (N,): NaN where nothing could be forecast yet (the first speed) or no speed was measured."""
    halfwidth: np.ndarray
    inside: np.ndarray
    """bool (N,): the measured speed fell inside the interval (False where not scored)."""
    unexpected: np.ndarray
    """bool (N,): the measured speed was above the interval: an unexpected acceleration."""
    skill: float | None
    """1 − MAE / MAE(persistence) over the scored forecasts (None before any)."""
    coverage: float | None
    next_value: float | None
    """The forecast for the next pair (at the last pair's spacing), with its half-width."""
    next_halfwidth: float | None
    trust: OnlineTrust


def speed_answers(previous: list[tuple[float, float]], mean: float, target_time: float) -> np.ndarray:
    """(trend, persistence, running mean) for a pair centred on ``target_time`` from the last one
    or two measured (centre day, speed) before it and the mean of all measured before it."""
    last_time, last_speed = previous[-1]
    trend = last_speed
    if len(previous) >= 2 and last_time > previous[-2][0]:
        slope = (last_speed - previous[-2][1]) / (last_time - previous[-2][0])
        trend = max(0.0, last_speed + slope * (target_time - last_time))
    return np.array([trend, last_speed, mean])


def new_trust(first_speed: float) -> OnlineTrust:
    """The online trust of a series whose first measured speed is ``first_speed``."""
    return OnlineTrust(0.0, float("inf"), PRIOR_SHARE * first_speed)


def _answers(times: np.ndarray, speeds: np.ndarray, k: int, target_time: float) -> np.ndarray | None:
    """(trend, persistence, running mean) from the measured speeds before index ``k``."""
    known = [i for i in range(k) if np.isfinite(speeds[i])]
    if not known:
        return None
    return speed_answers([(times[i], speeds[i]) for i in known[-2:]], float(np.mean(speeds[known])), target_time)


def forecast_speeds(times: np.ndarray, speeds: np.ndarray, precision: np.ndarray | None = None) -> SpeedForecast:
    """Replay the online trust causally over a speed series (``times``: the pairs' centres, days).
    ``precision``: per pair, the smallest excess over the interval (speed units) that counts as an
    unexpected acceleration (:data:`MIN_EXCESS_PX` over the pair's days, in the series' unit)."""
    times, speeds = np.asarray(times, np.float64), np.asarray(speeds, np.float64)
    floor = np.zeros(len(speeds)) if precision is None else np.asarray(precision, np.float64)
    count = len(speeds)
    value, halfwidth = np.full(count, np.nan), np.full(count, np.nan)
    inside, unexpected = np.zeros(count, bool), np.zeros(count, bool)
    finite = speeds[np.isfinite(speeds)]
    trust = new_trust(float(finite[0]) if len(finite) else 1.0)
    for k in range(count):
        answers = _answers(times, speeds, k, times[k])
        if answers is None:
            continue
        if np.isfinite(speeds[k]):
            value[k], halfwidth[k], inside[k] = trust.update(answers, float(speeds[k]))
            unexpected[k] = speeds[k] > value[k] + halfwidth[k] + floor[k]
        else:
            value[k], halfwidth[k] = trust.combine(answers), trust.halfwidth()
    next_value = next_halfwidth = None
    if count >= 1:
        step = times[-1] - times[-2] if count >= 2 else 1.0
        answers = _answers(times, speeds, count, times[-1] + step)
        if answers is not None:
            next_value, next_halfwidth = trust.combine(answers), trust.halfwidth()
    skill = trust.running_skill()
    coverage = trust.coverage()
    return SpeedForecast(value, halfwidth, inside, unexpected, None if np.isnan(skill) else float(skill),
                         None if np.isnan(coverage) else float(coverage), next_value, next_halfwidth, trust)
